/** What the `online` listener needs from a session. */
interface Reconnectable {
  reconnectNow(): void
}

/**
 * Reconnects at once when the browser regains the network, instead of sleeping out a backoff delay that grew
 * while every attempt failed offline. Returns the function that removes the listener. A no-op outside
 * windows and workers (no `addEventListener` on the global), e.g. in server-side rendering.
 */
export function reconnectWhenOnline(session: Reconnectable): () => void {
  const target = globalThis as Partial<Pick<typeof globalThis, 'addEventListener' | 'removeEventListener'>>
  if (typeof target.addEventListener !== 'function') return () => {}
  const listener = () => session.reconnectNow()
  target.addEventListener('online', listener)
  return () => target.removeEventListener?.('online', listener)
}
