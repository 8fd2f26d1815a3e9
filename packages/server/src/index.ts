import { Mesa } from './mesa-server.js'

export default Mesa
export { Mesa }
export type { CloseOptions, MesaEvents, Sendable } from './mesa-server.js'
export { ServerClient, isSendableCloseCode } from './server-client.js'
export type { ServerClientEvents, StoredMessages } from './server-client.js'
export type { AuthenticateDone, AuthenticateHandler } from './connection.js'
export type {
  AuthenticationOptions,
  ClientOptions,
  HeartbeatOptions,
  MesaOptions,
  PortalOptions,
  ReconnectOptions,
  ServerBehaviourOptions,
  SyncOptions,
} from './config.js'
export { DEFAULT_MAX_BUFFERED_AMOUNT, DEFAULT_MAX_PAYLOAD, DEFAULT_PORT } from './config.js'
export type { Middleware, MiddlewareEvent, MiddlewareHandlers } from './middleware.js'
export { REDIS_ADAPTER_PACKAGE } from './resolve-adapter.js'
export { LEGACY_CURSOR } from './authentication-flow.js'
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
} from '@mesa/core'
export type { MessageMap, MessageOf, MessageOptions } from '@mesa/core'
