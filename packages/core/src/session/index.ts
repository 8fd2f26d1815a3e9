export type {
  AuthenticateOptions,
  ConnectionInfo,
  DisconnectionInfo,
  RequestHandler,
  RequestOptions,
  SendOptions,
  SessionEvents,
  SessionOptions,
  SubscriptionOf,
} from './session.js'
export { ClientSession } from './session.js'
export type { SessionState } from './session-state.js'
export {
  type PresenceEvent,
  type SubscribedInfo,
  type SubscribeOptions,
  Subscription,
  type SubscriptionEvents,
  type UntypedChannels,
  type UntypedMessages,
} from './subscription.js'
export type { SocketHandler, WebSocketLike, WebSocketTransport } from './websocket.js'
