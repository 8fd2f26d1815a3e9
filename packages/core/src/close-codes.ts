/**
 * Close codes Mesa sends. 1000-1015 are RFC 6455's; 4000-4999 are reserved by the RFC for applications.
 * Codes 1.x already used keep their 1.x value so 1.x clients react as before.
 */
export const CloseCode = {
  Normal: 1000,
  /** Server shutting down or restarting: reconnect, probably elsewhere. */
  GoingAway: 1001,
  /** 1.x: `enforce_equal_versions` mismatch. */
  ProtocolError: 1002,
  /** A binary frame where the protocol expects text. */
  UnsupportedData: 1003,
  /** A text frame that is not valid UTF-8 (sent by ws's receiver). */
  InvalidPayload: 1007,
  /** 1.x: authentication failed with `disconnectOnFail`. */
  AuthenticationFailed: 1008,
  /** Frame above `maxPayload`. */
  MessageTooBig: 1009,
  InternalError: 1011,
  /** The server is restarting (a gateway draining on SIGTERM): reconnect, with jitter, probably elsewhere. */
  ServiceRestart: 1012,
  /** The server is overloaded (its bound on bytes waiting to be sent across sockets is reached): retry later. */
  TryAgainLater: 1013,
  /** The frame is not JSON, or its fields have the wrong shape or type. */
  InvalidFrame: 4000,
  /** A well-formed frame with an opcode a client may not send. */
  UnknownOpcode: 4001,
  /** No successful authentication within `authentication.timeout`. */
  AuthenticationTimeout: 4002,
  /** `heartbeat.maxAttempts` heartbeats went unanswered. */
  HeartbeatTimeout: 4003,
  /** The user was disconnected on purpose (`DISCONNECT_CLIENT` from a dispatcher, or `client.disconnect()`). */
  DisconnectedByServer: 4004,
  /** A client-side close: the client saw no heartbeat for longer than the announced interval and grace. */
  ServerUnresponsive: 4005,
  /** The socket sent more messages or bytes per second than its rate limit allows. */
  RateLimited: 4006,
  /** The client did not read what was sent to it: more than `maxBufferedAmount` bytes waited for it. */
  SlowConsumer: 4007,
  /** The authentication expired and was not renewed in time. */
  AuthenticationExpired: 4008,
  /** The user already has as many connections as the server allows. */
  TooManyConnections: 4009,
} as const

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode]

/**
 * Codes after which a client should not reconnect on its own: the server rejected it on purpose, so retrying
 * would only loop. ProtocolError, AuthenticationFailed, DisconnectedByServer and TooManyConnections, as literals
 * so that a bundle calling this does not need the `CloseCode` object.
 */
export function isTerminalCloseCode(code: number): boolean {
  return code === 1002 || code === 1008 || code === 4004 || code === 4009
}
