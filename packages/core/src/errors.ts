import type { CloseCode } from './close-codes.js'

/**
 * Base class of every error Mesa raises; `code` is stable and meant for programs, `message` for people (the code
 * itself when not given: the docs explain each code, and the browser bundle counts every message's bytes). `C`
 * narrows `code` for a subclass, which then needs no constructor of its own (one less in the browser bundle).
 */
export class MesaError<C extends string = string> extends Error {
  // `declare` fields are assigned in constructors: declarations would only add bytes to browser bundles.
  declare readonly code: C

  constructor(code: C, message: string = code, options?: { cause?: unknown }) {
    super(message, options)
    // Core's own classes spell their names out (minifiers rename classes in browser bundles): here, and as a
    // `name` field in each subclass below. Subclasses elsewhere get their class name.
    this.name = new.target === MesaError ? 'MesaError' : new.target.name
    this.code = code
  }
}

export type ProtocolErrorCode =
  | 'invalid-json'
  | 'invalid-frame'
  | 'unknown-opcode'
  | 'binary-frame'
  | 'payload-too-large'
  | 'version-mismatch'
  /** Objects and arrays nested deeper than the reader allows. */
  | 'too-deep'
  /** More object keys and array elements than the reader allows. */
  | 'too-many-keys'

/** A peer sent something the protocol does not allow; `closeCode` is what the connection is closed with. */
export class ProtocolError extends MesaError {
  override name = 'ProtocolError'
  declare readonly code: ProtocolErrorCode
  declare readonly closeCode: CloseCode

  constructor(code: ProtocolErrorCode, closeCode: CloseCode, message?: string) {
    super(code, message)
    this.closeCode = closeCode
  }
}

/** A constructor option has the wrong type or value. */
export class ConfigError extends MesaError {
  override name = 'ConfigError'
  constructor(message: string) {
    super('invalid-config', message)
  }
}

/** The client's offline queue is at one of its bounds, in messages or in bytes; the message was not queued. */
export class QueueFullError extends MesaError {
  override name = 'QueueFullError'
  constructor(limit: number, unit: 'messages' | 'bytes' = 'messages') {
    super('queue-full', `queue full: ${limit} ${unit}`)
  }
}

export type AuthenticationErrorCode = 'rejected' | 'timeout' | 'closed' | 'superseded'

/** Authentication did not succeed. */
export class AuthenticationError extends MesaError<AuthenticationErrorCode> {
  override name = 'AuthenticationError'
}

/**
 * Why a subscription or a channel call failed: the wire codes of op 41's `x.err.code` (and op 33's `x.code`); the
 * server's `ChannelError` has them, and a client's `SubscriptionError`.
 */
export type ChannelErrorCode =
  /** The name breaks the channel-name rules (1-256 characters of letters, digits and `_ - : . @ / = , + ! ~`). */
  | 'invalid-channel'
  /** The authorize hook refused (or failed, or there is none: client-side subscriptions are then refused). */
  | 'forbidden'
  /** The socket already has `channels.maxPerConnection` subscriptions. */
  | 'too-many-channels'
  /** The socket asked for subscriptions faster than `channels.subscribeRate`. */
  | 'rate-limited'
  /** The socket is subscribed to (or subscribing to) the channel already. */
  | 'already-subscribed'
  /** The socket is not subscribed to the channel. */
  | 'not-subscribed'
  /** The adapter could not follow the channel, or the socket closed or unsubscribed while subscribing. */
  | 'unavailable'

/** Why a client's subscription failed or ended: the server's channel codes, or `unsupported` (a Mesa 1.x server). */
export type SubscriptionErrorCode = ChannelErrorCode | 'unsupported'

/** The server refused a subscription (or an unsubscription), or cannot have any (Mesa 1.x). */
export class SubscriptionError extends MesaError<SubscriptionErrorCode> {
  override name = 'SubscriptionError'
}

/** The operation needs an open connection and there is none (or it closed meanwhile). */
export class ConnectionClosedError extends MesaError {
  override name = 'ConnectionClosedError'
  constructor(message?: string) {
    super('connection-closed', message)
  }
}

/**
 * `store-timeout`: the store did not answer in time. Unlike a plain failure, the write may still be carried out
 * when the store catches up: the message may then be stored and redelivered.
 */
export type StoreErrorCode = 'store-failed' | 'store-timeout'

/** The message store failed; the message it was storing is not guaranteed to be redelivered. */
export class StoreError extends MesaError {
  override name = 'StoreError'
  declare readonly code: StoreErrorCode

  constructor(message: string, options?: { cause?: unknown; code?: StoreErrorCode }) {
    super(options?.code ?? 'store-failed', message, options)
  }
}

/** `adapter-timeout`: the adapter's backend did not answer in time (the operation may still be carried out later). */
export type AdapterErrorCode = 'adapter-failed' | 'adapter-timeout'

/** The adapter (replication, presence, portal queue) failed. */
export class AdapterError extends MesaError {
  override name = 'AdapterError'
  declare readonly code: AdapterErrorCode

  constructor(message: string, options?: { cause?: unknown; code?: AdapterErrorCode }) {
    super(options?.code ?? 'adapter-failed', message, options)
  }
}
