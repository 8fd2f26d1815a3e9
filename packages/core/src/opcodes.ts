/**
 * Opcodes of the Mesa wire protocol. Values 0-22 are Mesa 1.x's and must never change meaning:
 * 1.x clients in the field switch on them.
 */
export const Opcode = {
  /** Application message, both directions; `t` names it. */
  Dispatch: 0,
  /** Server -> client heartbeat; `d` is `{}` or `{ tries, max }` after a missed ack. */
  Heartbeat: 1,
  /** Client -> server authentication: the app's auth data merged with `{ shouldSync }`. */
  Authenticate: 2,
  /** Never on the wire: dispatcher instructions such as `DISCONNECT_CLIENT`. */
  Internal: 5,
  /** Server -> client, first frame after connect. */
  Hello: 10,
  /** Client -> server answer to every heartbeat. */
  HeartbeatAck: 11,
  /** Server -> client answer to a successful authentication. */
  AuthenticateAck: 22,
} as const

export type Opcode = (typeof Opcode)[keyof typeof Opcode]

const wireOpcodes: ReadonlySet<number> = new Set([
  Opcode.Dispatch,
  Opcode.Heartbeat,
  Opcode.Authenticate,
  Opcode.Hello,
  Opcode.HeartbeatAck,
  Opcode.AuthenticateAck,
])

/** True for the opcodes that may travel on the wire (everything but `Internal`). */
export function isWireOpcode(op: number): op is Opcode {
  return wireOpcodes.has(op)
}

/** Internal event types carried with `Opcode.Internal`. */
export const InternalType = {
  DisconnectClient: 'DISCONNECT_CLIENT',
} as const
