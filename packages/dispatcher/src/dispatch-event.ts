import { CloseCode } from '@mesa/core'
import { InternalType } from '@mesa/core/server'
import { DispatchError } from './errors.js'

/** Actions a dispatcher can ask every server to perform (Mesa 1.x `DispatchEvent`). */
export type DispatchAction = (typeof InternalType)[keyof typeof InternalType]

export interface DisconnectOptions {
  /**
   * Close code the users' sockets get: 1000, or 3000-4999. Default `CloseCode.DisconnectedByServer` (4004),
   * after which Mesa clients do not reconnect on their own.
   */
  code?: number
  /** Close reason, at most 123 bytes of UTF-8 (the WebSocket limit). Default: none. */
  reason?: string
}

export interface DispatchEventData {
  DISCONNECT_CLIENT: DisconnectOptions
}

/** Longest close reason a WebSocket close frame can carry, in bytes. */
const MAX_REASON_BYTES = 123

function isSendableCloseCode(code: number): boolean {
  return Number.isInteger(code) && (code === CloseCode.Normal || (code >= 3000 && code <= 4999))
}

/**
 * An instruction for servers rather than a message for clients. `DISCONNECT_CLIENT` closes every socket of
 * the recipients, on whichever server holds them:
 * `dispatcher.dispatch(new DispatchEvent('DISCONNECT_CLIENT', { reason: 'banned' }), ['42'])`.
 */
export class DispatchEvent<A extends DispatchAction = DispatchAction> {
  readonly action: A
  readonly data: DispatchEventData[A]

  constructor(action: A, data: DispatchEventData[A] = {}) {
    if (action !== InternalType.DisconnectClient) {
      throw new DispatchError('invalid-event', `unknown dispatch action ${JSON.stringify(action)}`)
    }
    const { code, reason } = data
    if (code !== undefined && !isSendableCloseCode(code)) {
      throw new DispatchError('invalid-event', `close code must be 1000 or within 3000-4999, got ${String(code)}`)
    }
    if (reason !== undefined) {
      if (typeof reason !== 'string') throw new DispatchError('invalid-event', 'close reason must be a string')
      if (new TextEncoder().encode(reason).length > MAX_REASON_BYTES) {
        throw new DispatchError('invalid-event', `close reason must be at most ${MAX_REASON_BYTES} bytes of UTF-8`)
      }
    }
    this.action = action
    this.data = data
  }
}
