import type { StreamPosition } from '../stream-position.js'

/**
 * What one server tells the others through the adapter. A dispatch is published once per message, whatever
 * the number of recipients: each server delivers it to its own sockets.
 */
export interface DispatchEnvelope {
  kind: 'dispatch'
  /** Id of the server (or dispatcher) that published it. */
  origin: string
  /** The message frame as encoded by `encodeMessage`, without `s`. */
  frame: string
  /** Absent: every socket. `['*']`: every authenticated user. Otherwise the user ids to deliver to. */
  recipients?: string[]
  /** User ids not to deliver to. */
  excluding?: string[]
  /**
   * Redelivery positions assigned before publishing, when the message was stored: `users[i]` is the
   * sequence number in the stream of `recipients[i]`; `global` is the position in the global stream for
   * broadcasts (absent recipients or `['*']`). `userEpochs[i]` is the epoch of `users[i]`: a server whose
   * socket holds a position from another epoch knows that history was lost, rather than skipping the message.
   */
  sequences?: { users?: number[]; userEpochs?: string[]; global?: StreamPosition }
}

/** Close every socket of these users, on whichever server holds them (1.x `DISCONNECT_CLIENT`). */
export interface DisconnectEnvelope {
  kind: 'disconnect'
  origin: string
  userIds: string[]
  code?: number
  reason?: string
}

export type Envelope = DispatchEnvelope | DisconnectEnvelope
