import type { CloseCode } from './close-codes.js'

/** Base class of every error Mesa raises; `code` is stable and meant for programs, `message` for people. */
export class MesaError extends Error {
  // `declare` fields are assigned in constructors: declarations would only add bytes to browser bundles.
  declare readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
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

  constructor(code: ProtocolErrorCode, closeCode: CloseCode, message: string) {
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

/** The client's offline queue is at its bound; the message was not queued. */
export class QueueFullError extends MesaError {
  override name = 'QueueFullError'
  constructor(limit: number) {
    super('queue-full', `outgoing queue full (${limit} messages): message not queued`)
  }
}

export type AuthenticationErrorCode = 'rejected' | 'timeout' | 'closed' | 'superseded'

/** Authentication did not succeed. */
export class AuthenticationError extends MesaError {
  override name = 'AuthenticationError'
  declare readonly code: AuthenticationErrorCode

  constructor(code: AuthenticationErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}

/** The operation needs an open connection and there is none (or it closed meanwhile). */
export class ConnectionClosedError extends MesaError {
  override name = 'ConnectionClosedError'
  constructor(message = 'the connection is closed') {
    super('connection-closed', message)
  }
}

/** The message store failed; the message it was storing is not guaranteed to be redelivered. */
export class StoreError extends MesaError {
  override name = 'StoreError'
  constructor(message: string, options?: { cause?: unknown }) {
    super('store-failed', message, options)
  }
}

/** The adapter (replication, presence, portal queue) failed. */
export class AdapterError extends MesaError {
  override name = 'AdapterError'
  constructor(message: string, options?: { cause?: unknown }) {
    super('adapter-failed', message, options)
  }
}
