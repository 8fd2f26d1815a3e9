export type { AuthenticateOptions } from './authentication.js'
export type { Hello } from './hello.js'
export type {
  ConnectionInfo,
  DisconnectionInfo,
  SessionEvents,
  SessionOptions,
  UntypedMessages,
} from './session.js'
export { ClientSession } from './session.js'
export type { SessionState } from './session-state.js'
export type { SocketHandler, WebSocketLike, WebSocketTransport } from './websocket.js'
