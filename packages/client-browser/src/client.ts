import { ClientSession, type MessageMap, type SessionOptions, type UntypedMessages } from '@mesa/core'
import { reconnectWhenOnline } from './online-reconnect.js'

/**
 * Options of the browser client; every one is optional. Defaults: `autoConnect` true, `reconnect` true,
 * `backoff` `{ base: 1000, factor: 2, max: 30000, resetAfter: 5000 }` (the server's reconnect interval
 * replaces `base`), `heartbeatGrace` half the server's heartbeat interval (at least 1000 ms),
 * `authenticationTimeout` the server's, else 10000 ms, `maxQueueSize` 1000, `positions` none.
 */
export type ClientOptions = SessionOptions

/**
 * A Mesa client on the browser's native `WebSocket`: the same API as `@mesa/client-node`'s `Client`.
 * Besides the shared session's behaviour (backoff with jitter, re-authentication, resume, dead-server
 * detection by timestamps), it reconnects as soon as the browser reports it is `online` again.
 */
export class Client<
  In extends MessageMap = UntypedMessages,
  Out extends MessageMap = In,
  User = unknown,
> extends ClientSession<In, Out, User> {
  constructor(url: string, options: ClientOptions = {}) {
    super(url, WebSocket, options)
    // Listen only while the session may reconnect, so a closed client leaves no listener behind on `window`.
    let detach = this.state === 'closed' ? undefined : reconnectWhenOnline(this)
    this.on('stateChange', (state) => {
      if (state === 'closed') {
        detach?.()
        detach = undefined
      } else detach ??= reconnectWhenOnline(this)
    })
  }
}
