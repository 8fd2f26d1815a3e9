/**
 * Opcodes of the Mesa wire protocol. Values 0-22 are Mesa 1.x's and must never change meaning: 1.x clients in
 * the field switch on them. 30 and up are protocol 2's (`docs/architecture.md`), sent only on `mesa.v2` sockets.
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
  /** Protocol 2, client -> server: subscribe to the channel `t` (`x.id`, `x.since`). */
  Subscribe: 30,
  /** Protocol 2, server -> client: subscribed to the channel `t` (`x.pos`, `x.recovered`; `x.re` answers op 30). */
  Subscribed: 31,
  /** Protocol 2, client -> server: unsubscribe from the channel `t` (`x.id`; answered by op 41). */
  Unsubscribe: 32,
  /** Protocol 2, server -> client: the server ended the subscription to the channel `t` (`x.reason`). */
  Unsubscribed: 33,
  /** Protocol 2, server -> client: a user joined or left the channel `t` (`d: { user, joined }`). */
  Presence: 34,
  /** Protocol 2, server -> client: the authentication expires at `x.exp`; authenticate again on this socket. */
  Reauthenticate: 35,
  /** Protocol 2, both ways: a request (`t`, `d`, `x.id`) answered by op 41. */
  Request: 40,
  /** Protocol 2, both ways: the answer to the frame whose `x.id` is `x.re`; `x.err` when it failed. */
  Reply: 41,
} as const

export type Opcode = (typeof Opcode)[keyof typeof Opcode]

/** The opcodes only protocol 2 peers exchange: a Mesa 1.x peer never sends or gets them. */
const v2Opcodes: ReadonlySet<number> = new Set([
  Opcode.Subscribe,
  Opcode.Subscribed,
  Opcode.Unsubscribe,
  Opcode.Unsubscribed,
  Opcode.Presence,
  Opcode.Reauthenticate,
  Opcode.Request,
  Opcode.Reply,
])

/** Every opcode that travels on the wire: 1.x's (all but `Internal`) and protocol 2's. */
const wireOpcodes: ReadonlySet<number> = new Set([
  Opcode.Dispatch,
  Opcode.Heartbeat,
  Opcode.Authenticate,
  Opcode.Hello,
  Opcode.HeartbeatAck,
  Opcode.AuthenticateAck,
  ...v2Opcodes,
])

/** True for the opcodes of protocol 2 only. */
export function isV2Opcode(op: number): boolean {
  return v2Opcodes.has(op)
}

/** True for the opcodes that may travel on the wire (everything but `Internal`). */
export function isWireOpcode(op: number): op is Opcode {
  return wireOpcodes.has(op)
}

/** Internal event types carried with `Opcode.Internal`. */
export const InternalType = {
  DisconnectClient: 'DISCONNECT_CLIENT',
} as const
