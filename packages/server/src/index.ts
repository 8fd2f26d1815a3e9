import { Mesa } from './mesa-server.js'

export default Mesa
export { Mesa }
export type { CloseOptions, MesaChannels, MesaEvents, Middleware, Sendable } from './mesa-server.js'
export type { AuthorizeHook, AuthorizeVerdict } from './channels/authorize.js'
export type { ChannelMap, PublicationOf } from '@mesa/core'
export type { HistoryQuery, HistoryResult } from './channels/history.js'
export { ServerClient, isSendableCloseCode } from './server-client.js'
export type { ServerClientEvents, StoredMessages } from './server-client.js'
export { ChannelError, type ChannelErrorCode, ServerError, type ServerErrorCode } from './errors.js'
export type { MesaStats } from './stats.js'
export type { AuthenticateDone, AuthenticateHandler, AuthenticationContext } from './connection.js'
export type { RequestHandler, RequestMap, RequestReply, UntypedRequests } from './requests/request-handlers.js'
export { DEFAULT_REQUEST_TIMEOUT, type RequestOptions } from './requests/outgoing-requests.js'
export type {
  AcksOptions,
  AuthenticationOptions,
  ChannelRule,
  ChannelsOptions,
  ClientOptions,
  ConnectionVerdict,
  HeartbeatOptions,
  LimitsOptions,
  MesaLogger,
  RateLimitOptions,
  MesaOptions,
  PortalOptions,
  ReconnectOptions,
  RequestsOptions,
  ServerBehaviourOptions,
  SubscribeRateOptions,
  SyncOptions,
} from './options.js'
export { DEFAULT_CHANNELS, DEFAULT_LIMITS, DEFAULT_MAX_BUFFERED_AMOUNT, DEFAULT_MAX_PAYLOAD, DEFAULT_PORT } from './options.js'
export type { MiddlewareEvent, MiddlewareHandlers } from './middleware.js'
export { REDIS_ADAPTER_PACKAGE } from './resolve-adapter.js'
export { LEGACY_CURSOR } from './stream-resume.js'
export {
  CloseCode,
  ConfigError,
  Message,
  MesaError,
  Opcode,
  ProtocolError,
  StoreError,
  AdapterError,
  AuthenticationError,
  RequestError,
  RequestRejection,
} from '@mesa/core'
export type { MessageMap, MessageOf, MessageOptions, RequestErrorCode, StreamPosition } from '@mesa/core'
export type { ChannelMembers } from '@mesa/core/server'
