/**
 * The part of a WebSocket the session uses. The browser's native `WebSocket` and `ws`'s `WebSocket` both fit,
 * so the session runs on either without adapters.
 */
export interface WebSocketLike {
  readonly readyState: number
  /** The subprotocol the server accepted; `''` when none. */
  readonly protocol: string
  send(data: string): void
  close(code?: number, reason?: string): void
  /** `ws` only: drops the connection at once, without waiting for the server's close frame. */
  terminate?(): void
  onopen: SocketHandler<unknown>
  onmessage: SocketHandler<{ data: unknown }>
  onclose: SocketHandler<{ code: number; reason: string }>
  onerror: SocketHandler<unknown>
}

/**
 * Declared through a method so that handler parameters are compared bivariantly: the DOM's
 * `(ev: MessageEvent) => any` and `ws`'s `(event: WebSocket.MessageEvent) => void` are then both assignable.
 */
export type SocketHandler<E> = { handle(event: E): void }['handle'] | null

/**
 * Opens a socket: `(url, protocols) => new WebSocket(url, protocols)`, or the same with `ws` and its options.
 * A factory rather than a class, so that a client can pass its own constructor options.
 */
export type WebSocketTransport = (url: string, protocols: string[]) => WebSocketLike

/** `WebSocket.OPEN`; the constant is not on every implementation's instances. */
export const OPEN = 1
