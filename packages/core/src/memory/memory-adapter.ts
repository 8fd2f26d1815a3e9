import type { Adapter, AdapterEvents, EnvelopeListener } from '../adapter/adapter.js'
import { type Envelope, isChannelEnvelope } from '../adapter/envelope.js'
import { TypedEmitter } from '../emitter.js'
import { AdapterError } from '../errors.js'
import { MemoryDeduplicator, type MemoryDeduplicatorOptions } from './memory-deduplicator.js'
import { MemoryMessageStore, type MemoryRetentionOptions } from './memory-message-store.js'
import { MemoryPortalQueue, type MemoryPortalQueueOptions } from './memory-portal-queue.js'
import { MemoryPresence } from './memory-presence.js'
import { MemoryUserChannels } from './memory-user-channels.js'

export interface MemoryAdapterOptions {
  /** A label: separate `MemoryAdapter` instances never share anything anyway. Default `'default'`. */
  namespace?: string
  /** Bounds of the redelivery store. Defaults per stream: 1000 entries, 16 MiB, 24 hours; 128 MiB in all. */
  retention?: MemoryRetentionOptions
  /** Portal queue tuning (claim timeout, pending bound, retry delay). */
  portal?: MemoryPortalQueueOptions
  /** The acknowledged sends' deduplicator: how many claims it holds at the most (default 500,000). */
  dedupe?: MemoryDeduplicatorOptions
  /** Clock for the store (ms since the Unix epoch). Default `Date.now`. */
  now?: () => number
}

interface Subscription {
  readonly origin: string
  readonly listener: EnvelopeListener
}

/**
 * The adapter for a single process: servers, portals and dispatchers sharing one instance see each other's
 * envelopes, presence, history and portal events. Envelopes are handed over as they are, not copied:
 * listeners must treat them as read-only.
 */
export class MemoryAdapter extends TypedEmitter<AdapterEvents> implements Adapter {
  readonly namespace: string
  readonly presence: MemoryPresence
  readonly store: MemoryMessageStore
  readonly portal: MemoryPortalQueue
  readonly dedupe: MemoryDeduplicator
  readonly userChannels: MemoryUserChannels
  private readonly subscriptions = new Set<Subscription>()
  /** Channel -> the origins following it. */
  private readonly followers = new Map<string, Set<string>>()
  private closed = false

  constructor(options: MemoryAdapterOptions = {}) {
    super()
    this.namespace = options.namespace ?? 'default'
    this.presence = new MemoryPresence()
    this.store = new MemoryMessageStore({ ...options.retention, now: options.now })
    this.portal = new MemoryPortalQueue(options.portal)
    this.dedupe = new MemoryDeduplicator(options.now, options.dedupe)
    this.userChannels = new MemoryUserChannels()
  }

  /** Delivery happens in a microtask, so a listener that publishes never re-enters its publisher. */
  async publish(envelope: Envelope): Promise<void> {
    if (this.closed) throw new AdapterError('cannot publish: the adapter is closed')
    const followers = isChannelEnvelope(envelope) ? this.followers.get(envelope.channel) : undefined
    if (isChannelEnvelope(envelope) && followers === undefined) return
    const targets = [...this.subscriptions].filter(
      (s) => s.origin !== envelope.origin && (followers === undefined || followers.has(s.origin)),
    )
    if (targets.length === 0) return
    queueMicrotask(() => {
      for (const subscription of targets) {
        if (!this.subscriptions.has(subscription)) continue
        try {
          subscription.listener(envelope)
        } catch (error) {
          this.emit('error', new AdapterError('an envelope listener threw', { cause: error }))
        }
      }
    })
  }

  async subscribe(origin: string, listener: EnvelopeListener): Promise<() => Promise<void>> {
    if (this.closed) throw new AdapterError('cannot subscribe: the adapter is closed')
    const subscription: Subscription = { origin, listener }
    this.subscriptions.add(subscription)
    return async () => {
      this.subscriptions.delete(subscription)
    }
  }

  async follow(origin: string, channels: readonly string[]): Promise<void> {
    if (this.closed) throw new AdapterError('cannot follow channels: the adapter is closed')
    for (const channel of channels) {
      const origins = this.followers.get(channel)
      if (origins) origins.add(origin)
      else this.followers.set(channel, new Set([origin]))
    }
  }

  async unfollow(origin: string, channels: readonly string[]): Promise<void> {
    for (const channel of channels) {
      const origins = this.followers.get(channel)
      if (!origins?.delete(origin) || origins.size > 0) continue
      this.followers.delete(channel)
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.subscriptions.clear()
    this.followers.clear()
    this.portal.close()
    this.presence.clear()
    this.userChannels.clear()
  }
}
