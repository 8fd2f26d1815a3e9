export type {
  AuthenticateOptions,
  ConnectionInfo,
  DisconnectionInfo,
  SessionEvents,
  SessionOptions,
  UntypedMessages,
} from './session.js'
export { ClientSession } from './session.js'
export type { SessionState } from './session-state.js'
export type { SocketHandler, WebSocketLike, WebSocketTransport } from './websocket.js'
