import type { Opcode } from '../opcodes.js'

// The opcodes the session handles, as plain constants: a bundler inlines these as numbers, where the `Opcode`
// object would cost the browser client bytes it counts. Typed from `Opcode`, so they cannot drift from it.
export const DISPATCH: typeof Opcode.Dispatch = 0
export const HEARTBEAT: typeof Opcode.Heartbeat = 1
export const AUTHENTICATE: typeof Opcode.Authenticate = 2
export const HELLO: typeof Opcode.Hello = 10
export const AUTHENTICATE_ACK: typeof Opcode.AuthenticateAck = 22
/** Frame answering every heartbeat (op 11). */
export const HEARTBEAT_ACK_FRAME = '{"op":11,"d":{}}'
