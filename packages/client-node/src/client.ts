import { ClientSession, type MessageMap, type SessionOptions, type UntypedMessages } from '@mesa/core'
import WebSocket, { type ClientOptions as WsClientOptions } from 'ws'

export interface ClientOptions extends SessionOptions {
  /**
   * Options for `ws`'s `WebSocket` (headers, TLS, `handshakeTimeout`, an `agent`...), applied to every
   * connection. Default none.
   */
  ws?: WsClientOptions
}

/**
 * A Mesa client for Node.js on `ws`: the shared session of `@mesa/core` (reconnects with backoff and jitter,
 * re-authentication, bounded offline queue, dead-server detection, resume of missed messages once each and in
 * order) with the API of Mesa 1.x's `Client`.
 */
export class Client<
  In extends MessageMap<In> = UntypedMessages,
  Out extends MessageMap<Out> = In,
  User = unknown,
> extends ClientSession<In, Out, User> {
  constructor(url: string, options: ClientOptions = {}) {
    const { ws, ...session } = options
    super(url, (address: string, protocols: string[]) => new WebSocket(address, protocols, ws), session)
  }
}
