// `@mesa/core`: what clients and applications use. Browser-safe (no Node built-ins, nothing that loads modules),
// and tree-shaken by bundlers (`sideEffects: false`). What servers, portals, dispatchers and adapters are built
// from is in `@mesa/core/server` (./server.ts); a name is exported from one entry only. The order of the modules
// below is the order bundlers lay them out in a client's bundle, which its gzipped size depends on by a few bytes.

// The protocol: opcodes, close codes and the version a client negotiates, and the shape of a frame.
export { Opcode } from './opcodes.js'
export { CloseCode, isTerminalCloseCode } from './close-codes.js'
export { HelloRule, PROTOCOL_VERSION, SUBPROTOCOL_V2 } from './protocol-version.js'
export type { Frame } from './codec.js'

// Every error class Mesa's packages raise, each with a stable `code`, so that one import serves `instanceof`.
export {
  AdapterError,
  type AdapterErrorCode,
  AuthenticationError,
  type AuthenticationErrorCode,
  type ChannelErrorCode,
  ConfigError,
  ConnectionClosedError,
  MesaError,
  ProtocolError,
  type ProtocolErrorCode,
  QueueFullError,
  StoreError,
  type StoreErrorCode,
  SubscriptionError,
  type SubscriptionErrorCode,
} from './errors.js'
export { type PortalQueueBound, PortalQueueFullError } from './memory/portal-queue-full-error.js'

// Requests (op 40/41): the maps that type them, what a handler answers, and how one fails.
export {
  type ReplyData,
  RequestError,
  type RequestErrorCode,
  type RequestMap,
  RequestRejection,
  type RequestReply,
  type UntypedRequests,
} from './requests.js'

// Utilities of every package, for applications too: the typed emitter and retry backoff.
export { type EventMap, TypedEmitter } from './emitter.js'
export { Backoff, type BackoffOptions, type BackoffSettings, backoffDelay, backoffSettings } from './backoff.js'

// Messages, and the maps that type them by message type and by channel.
export { type AnyMessageData, type ChannelMap, Message, type MessageMap, type MessageOf, type MessageOptions } from './message.js'
export type { PublicationOf } from './dispatch/channels.js'

// Redelivery streams: the positions a client resumes from (checked with `isStreamPosition` where they were kept, e.g.
// in storage) and what authentication tells it about them.
export {
  type AuthenticationResult,
  isStreamPosition,
  type ResumePositions,
  type ResyncReason,
  type StreamKind,
  type StreamPosition,
} from './stream-position.js'

// The client session both clients are built on, with its subscriptions and their types.
export {
  type AuthenticateOptions,
  ClientSession,
  type ConnectionInfo,
  type DisconnectionInfo,
  type RequestHandler,
  type RequestOptions,
  type SendOptions,
  type SessionEvents,
  type SessionOptions,
  type SubscriptionOf,
} from './session/session.js'
export type { SessionState } from './session/session-state.js'
export {
  type PresenceEvent,
  type SubscribedInfo,
  type SubscribeOptions,
  Subscription,
  type SubscriptionEvents,
  type UntypedChannels,
  type UntypedMessages,
} from './session/subscription.js'
export type { SocketHandler, WebSocketLike, WebSocketTransport } from './session/websocket.js'
