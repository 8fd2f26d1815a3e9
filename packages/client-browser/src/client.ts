import {
  type ChannelMap,
  ClientSession,
  type MessageMap,
  type RequestMap,
  type SessionOptions,
  type SessionState,
  type UntypedChannels,
  type UntypedMessages,
  type UntypedRequests,
} from '@mesa/core'

/**
 * Options of the browser client; every one is optional. Defaults: `autoConnect` true, `reconnect` true,
 * `backoff` `{ base: 1000, factor: 2, max: 30000, resetAfter: 5000 }` (the server's reconnect interval
 * replaces `base`), `heartbeatGrace` half the server's heartbeat interval (at least 1000 ms),
 * `authenticationTimeout` the server's, else 10000 ms, `maxQueueSize` 1000, `maxQueueBytes` 1048576 (1 MiB),
 * `maxPending` 1000, `getCredentials` and `positions` none.
 */
export type ClientOptions = SessionOptions

/**
 * A Mesa client on the browser's native `WebSocket`: the same API as `@mesa/client-node`'s `Client`.
 * Besides the shared session's behaviour (backoff with jitter, re-authentication, resume, dead-server
 * detection by timestamps), it reconnects as soon as the browser reports it is `online` again.
 */
export class Client<
  In extends MessageMap<In> = UntypedMessages,
  Out extends MessageMap<Out> = In,
  User = unknown,
  Channels extends ChannelMap<Channels> = UntypedChannels,
  Requests extends RequestMap<Requests> = UntypedRequests,
> extends ClientSession<In, Out, User, Channels, Requests> {
  constructor(url: string, options: ClientOptions = {}) {
    super(url, (address, protocols) => new WebSocket(address, protocols), options)
    // Reconnect at once when the network returns, rather than sleeping out a backoff delay that grew while
    // every attempt failed offline. Listening only while not closed leaves nothing behind on `window` once
    // the client is closed; adding the same listener again is a no-op. Without a window or worker global
    // (server-side rendering) there is no `online` event to follow: the optional call does nothing.
    const online = () => this.reconnectNow()
    const follow = (state: SessionState) =>
      globalThis[state === 'closed' ? 'removeEventListener' : 'addEventListener']?.('online', online)
    follow(this.state)
    this.on('stateChange', follow)
  }
}
