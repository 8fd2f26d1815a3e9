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
 * detection by timestamps), it reconnects as soon as the browser reports it is `online` again. All of it is the
 * session's (its default transport is the native `WebSocket`, and it follows `online` where there is one): a class
 * of its own only for the name and the types, so that the browser bundle carries no constructor for it.
 */
export class Client<
  In extends MessageMap<In> = UntypedMessages,
  Out extends MessageMap<Out> = In,
  User = unknown,
  Channels extends ChannelMap<Channels> = UntypedChannels,
  Requests extends RequestMap<Requests> = UntypedRequests,
> extends ClientSession<In, Out, User, Channels, Requests> {}
