import { type ChannelErrorCode, MesaError } from '@mesa/core'

/**
 * What the server reports through `error` (besides `ProtocolError` for a client's bad frame, and the
 * adapter's `StoreError` and `AdapterError`), and what its methods throw for bad arguments.
 */
export type ServerErrorCode =
  /** A client did not read what was sent to it; its socket was closed (`CloseCode.SlowConsumer`). */
  | 'slow-consumer'
  /**
   * More bytes waited in the send buffers of all sockets than `limits.maxBufferedBytes`; the socket holding the
   * most was closed (`CloseCode.TryAgainLater`).
   */
  | 'overloaded'
  /**
   * A client sent more than `limits.rate` allows: its socket was closed (`CloseCode.RateLimited`), or its frames
   * are dropped (`action: 'drop'`; reported at most once a second per socket).
   */
  | 'rate-limited'
  /** Stored messages a 1.x client should have got back were trimmed before it returned. */
  | 'history-lost'
  /** A client sent op 2 but no `client.authenticate()` handler is set. */
  | 'no-authenticator'
  /** A client sent op 2 while its previous one was being handled. */
  | 'authentication-in-progress'
  /** An authenticate handler threw, rejected, or called `done` with no valid `{ id, user }`. */
  | 'authentication-handler-failed'
  /** A listener, middleware handler or hook of the application threw or rejected. */
  | 'handler-failed'
  /** The socket reported an error (ws). */
  | 'socket-error'
  /** `send()` got recipients or exclusions that are not user ids. */
  | 'invalid-recipients'
  /** `send()` or `publish()` got something that is not a `Message` it can send (`publish`: opcode 0 only). */
  | 'invalid-message'
  /** `updateUser()` before authentication. */
  | 'not-authenticated'
  /** `updateUser()` with an empty id. */
  | 'invalid-user'
  /** `disconnect()` or `close()` with a code a server may not send. */
  | 'invalid-close-code'

/** A failure of the server or of the application code it runs; `code` says which. */
export class ServerError extends MesaError {
  declare readonly code: ServerErrorCode

  constructor(code: ServerErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}

/**
 * Why a subscription or a channel call failed (core's codes, shared with the clients): also what
 * `ServerClient.subscribe()`, `mesa.publish()`, `mesa.presence()` and `mesa.history()` reject with.
 */
export type { ChannelErrorCode } from '@mesa/core'

/** A channel operation failed; `code` is also what a client is told on the wire. */
export class ChannelError extends MesaError<ChannelErrorCode> {}

/** `value` as an Error (application code may throw anything). */
export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value))
}
