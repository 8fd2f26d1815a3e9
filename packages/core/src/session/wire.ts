import type { CloseCode } from '../close-codes.js'
import type { Opcode } from '../opcodes.js'
import type { PROTOCOL_VERSION } from '../protocol-version.js'

// The opcodes and close codes the session uses, as plain constants: a bundler inlines these as numbers, where
// the `Opcode` and `CloseCode` objects would cost the browser client bytes it counts. Typed from those objects,
// so they cannot drift from them.
export const DISPATCH: typeof Opcode.Dispatch = 0
export const HEARTBEAT: typeof Opcode.Heartbeat = 1
export const AUTHENTICATE: typeof Opcode.Authenticate = 2
export const HELLO: typeof Opcode.Hello = 10
export const AUTHENTICATE_ACK: typeof Opcode.AuthenticateAck = 22
export const SUBSCRIBE: typeof Opcode.Subscribe = 30
export const SUBSCRIBED: typeof Opcode.Subscribed = 31
export const UNSUBSCRIBE: typeof Opcode.Unsubscribe = 32
export const UNSUBSCRIBED: typeof Opcode.Unsubscribed = 33
export const PRESENCE: typeof Opcode.Presence = 34
export const REAUTHENTICATE: typeof Opcode.Reauthenticate = 35
export const REQUEST: typeof Opcode.Request = 40
export const REPLY: typeof Opcode.Reply = 41
/** `PROTOCOL_VERSION` as the `CLIENT_VERSION` a session sends by default. */
export const VERSION: `${typeof PROTOCOL_VERSION}` = '2'
/** Frame answering every heartbeat (op 11). */
export const HEARTBEAT_ACK_FRAME = '{"op":11,"d":{}}'

export const NORMAL_CLOSURE: typeof CloseCode.Normal = 1000
export const AUTHENTICATION_FAILED: typeof CloseCode.AuthenticationFailed = 1008
export const INVALID_FRAME: typeof CloseCode.InvalidFrame = 4000
export const AUTHENTICATION_TIMEOUT: typeof CloseCode.AuthenticationTimeout = 4002
export const SERVER_UNRESPONSIVE: typeof CloseCode.ServerUnresponsive = 4005
