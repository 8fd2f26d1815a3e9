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

/**
 * A channel publication. Adapters deliver it only to the origins that follow `channel` (`Adapter.follow`), so a
 * server receives nothing for channels none of its sockets subscribed to.
 */
export interface PublicationEnvelope {
  kind: 'publication'
  origin: string
  channel: string
  /** The message frame as encoded by `encodeMessage`, without `s`. */
  frame: string
  /** Its position in the channel's stream, when it was stored. */
  position?: StreamPosition
}

/** A user joined or left a channel (its last socket on the channel): routed like a publication of `channel`. */
export interface ChannelPresenceEnvelope {
  kind: 'presence'
  origin: string
  channel: string
  userId: string
  joined: boolean
}

/** Subscribe (or unsubscribe) every socket of these users to a channel, on whichever server holds them. */
export interface SubscriptionEnvelope {
  kind: 'subscription'
  origin: string
  userIds: string[]
  channel: string
  subscribe: boolean
}

/**
 * The answer to a client's request that a portal handled, for the server holding the requesting socket
 * (`target`); the others ignore it. `frame` (an op 41 without `x`) on success, `error` otherwise.
 */
export interface ReplyEnvelope {
  kind: 'reply'
  origin: string
  target: string
  socketId: string
  requestId: number
  frame?: string
  error?: { code: string; message: string }
}

export type Envelope =
  | DispatchEnvelope
  | DisconnectEnvelope
  | PublicationEnvelope
  | ChannelPresenceEnvelope
  | SubscriptionEnvelope
  | ReplyEnvelope

/** Envelopes routed by channel: adapters deliver them only to origins following the channel. */
export type ChannelEnvelope = PublicationEnvelope | ChannelPresenceEnvelope

export function isChannelEnvelope(envelope: Envelope): envelope is ChannelEnvelope {
  return envelope.kind === 'publication' || envelope.kind === 'presence'
}
