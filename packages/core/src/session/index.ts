export type {
  AuthenticateOptions,
  ConnectionInfo,
  DisconnectionInfo,
  RequestHandler,
  RequestMap,
  RequestOptions,
  RequestReply,
  SendOptions,
  SessionEvents,
  SessionOptions,
  SubscriptionOf,
  UntypedRequests,
} from './session.js'
export { ClientSession } from './session.js'
export type { SessionState } from './session-state.js'
export {
  type ChannelMap,
  type PresenceEvent,
  type SubscribedInfo,
  type SubscribeOptions,
  Subscription,
  type SubscriptionEvents,
  type UntypedChannels,
  type UntypedMessages,
} from './subscription.js'
export type { SocketHandler, WebSocketLike, WebSocketTransport } from './websocket.js'
