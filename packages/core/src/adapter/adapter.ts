import type { TypedEmitter } from '../emitter.js'
import type { StreamPosition } from '../stream-position.js'
import type { Deduplicator } from './deduplicator.js'
import type { Envelope, PublicationEnvelope } from './envelope.js'
import type { MessageStore, StoreEntryInput } from './message-store.js'
import type { PortalQueue } from './portal-queue.js'
import type { Presence } from './presence.js'
import type { UserChannels } from './user-channels.js'

export type EnvelopeListener = (envelope: Envelope) => void

export interface AdapterEvents {
  /** A failure the adapter recovers from by itself (lost connection, unanswered command, failed publish); never thrown. */
  error: [Error]
  /** The adapter is back after an outage: reconnected and resubscribed, or its backend answers again. */
  ready: []
}

/**
 * Everything a Mesa server, Portal or Dispatcher shares with the others: replication, presence, redelivery
 * store, portal queue. `MemoryAdapter` (in this package) serves one process; `@mesa/redis-adapter` serves many.
 * One adapter may be shared by several servers, portals and dispatchers in one process.
 */
export interface Adapter extends Pick<TypedEmitter<AdapterEvents>, 'on' | 'off' | 'once'> {
  readonly namespace: string
  readonly presence: Presence
  readonly store: MessageStore
  readonly portal: PortalQueue
  /** Remembers which acknowledged client messages were handled, so a retransmission is not handled twice. */
  readonly dedupe: Deduplicator
  /** The channels users were subscribed to from a backend, applied to their sockets when they authenticate. */
  readonly userChannels: UserChannels
  /**
   * Sends the envelope to every subscriber except those subscribed under the same origin id; channel envelopes
   * (`publication`, `presence`) only to the subscribers whose origin follows their channel.
   */
  publish(envelope: Envelope): Promise<void>
  /** Receives the envelopes published by other origins (see `publish`); resolves with an unsubscribe function. */
  subscribe(origin: string, listener: EnvelopeListener): Promise<() => Promise<void>>
  /**
   * From now on, `origin`'s subscription also receives the channel envelopes of these channels. Idempotent. A
   * server follows a channel while any of its sockets subscribes to it; the adapter must not deliver channel
   * envelopes of channels nobody in a process follows to that process (on Redis: one pub/sub channel per Mesa
   * channel, subscribed only while followed).
   */
  follow(origin: string, channels: readonly string[]): Promise<void>
  /** Stops delivering these channels' envelopes to `origin`. Idempotent. */
  unfollow(origin: string, channels: readonly string[]): Promise<void>
  /**
   * Optional, for a backend that can do in one step what a stored channel publication otherwise takes two:
   * `store.append(stream, entry)`, then `publish` of `envelope` with the position it got. Resolves with that
   * position. Both happened or neither: a rejection (a `StoreError`) means nothing was stored or published, but
   * after a timeout or a failure of the backend half-way, when either may have happened, as with `append`. The
   * calls of one tick may be sent together. Without it, publishers append then publish.
   */
  storeAndPublish?(stream: string, entry: StoreEntryInput, envelope: PublicationEnvelope): Promise<StreamPosition>
  /** Releases connections and timers. Idempotent. */
  close(): Promise<void>
}
