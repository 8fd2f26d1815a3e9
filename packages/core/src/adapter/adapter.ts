import type { TypedEmitter } from '../emitter.js'
import type { Envelope } from './envelope.js'
import type { MessageStore } from './message-store.js'
import type { PortalQueue } from './portal-queue.js'
import type { Presence } from './presence.js'

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
  /** Sends the envelope to every subscriber except those subscribed under the same origin id. */
  publish(envelope: Envelope): Promise<void>
  /** Receives every envelope published by other origins; resolves with an unsubscribe function. */
  subscribe(origin: string, listener: EnvelopeListener): Promise<() => Promise<void>>
  /** Releases connections and timers. Idempotent. */
  close(): Promise<void>
}
