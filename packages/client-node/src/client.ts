import {
  type ChannelMap,
  ClientSession,
  type MessageMap,
  type RequestMap,
  type SessionOptions,
  type UntypedChannels,
  type UntypedMessages,
  type UntypedRequests,
} from '@mesa/core'
import { checkPositiveInteger } from '@mesa/core/server'
import type { ClientOptions as WsClientOptions } from 'ws'
import { NodeSocket } from './node-socket.js'

/** The server's default `maxPayload`: 1 MiB. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024

export interface ClientOptions extends SessionOptions {
  /**
   * Largest frame in bytes accepted from the server. A bigger one closes the connection with 1009 and is reported
   * through `error` as a `ProtocolError` (`payload-too-large`); the client then reconnects. Default 1048576
   * (1 MiB, the server's default).
   */
  maxPayload?: number
  /**
   * Options for `ws`'s `WebSocket` (headers, TLS, `handshakeTimeout`, an `agent`...), applied to every
   * connection. Default none. `perMessageDeflate` is off unless set here (`ws` alone would offer it).
   */
  ws?: Omit<WsClientOptions, 'maxPayload'>
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
  Channels extends ChannelMap<Channels> = UntypedChannels,
  Requests extends RequestMap<Requests> = UntypedRequests,
> extends ClientSession<In, Out, User, Channels, Requests> {
  /** @throws ConfigError for an invalid option, `maxPayload` included. */
  constructor(url: string, options: ClientOptions = {}) {
    const { ws, maxPayload = DEFAULT_MAX_PAYLOAD, ...session } = options
    checkPositiveInteger('maxPayload', maxPayload)
    // `ws` alone accepts frames of up to 100 MiB, each held in memory whole, and offers permessage-deflate, whose
    // inflating costs memory and CPU: the server's defaults here instead, compression only when asked for.
    const socketOptions = { perMessageDeflate: false, ...ws, maxPayload }
    super(url, session, (address, protocols) => new NodeSocket(address, protocols, socketOptions))
  }
}
