/** ms before a store read is tried again after a failure; doubled after each failure up to the max. */
const STORE_RETRY_MS = 100
const STORE_RETRY_MAX_MS = 2000

/** A socket waiting for the store. */
export interface StoreWaiter {
  /** Waits `ms`, cut short when the socket closes (`SocketDelivery.sleep`). */
  sleep(ms: number): Promise<void>
  /** The first failure of an outage (the next ones are the same outage). */
  report(error: unknown): void
  /** Checked after each wait: false gives up. */
  wanted(): boolean
}

/**
 * Runs `read` until it resolves: after a failure it waits `STORE_RETRY_MS`, doubling up to `STORE_RETRY_MAX_MS`,
 * and tries again while the waiter still wants the answer (`undefined` once it does not). Channel subscriptions
 * (following a channel, reading where they start) and deliveries filling a gap wait for the store this way, so a
 * Redis outage, or Redis back on pub/sub before the command connection, delays them rather than refusing them or
 * closing their sockets.
 */
export async function untilRead<T>(read: () => Promise<T>, waiter: StoreWaiter): Promise<{ value: T } | undefined> {
  for (let wait = STORE_RETRY_MS; ; wait = Math.min(2 * wait, STORE_RETRY_MAX_MS)) {
    try {
      return { value: await read() }
    } catch (error) {
      if (wait === STORE_RETRY_MS) waiter.report(error)
    }
    await waiter.sleep(wait)
    if (!waiter.wanted()) return undefined
  }
}
