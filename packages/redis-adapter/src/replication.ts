import { AdapterError } from '@mesa/core'
import { type ChannelEnvelope, type Envelope, type EnvelopeListener, isChannelEnvelope } from '@mesa/core/server'
import type { ChannelFollowing } from './channel-following.js'
import type { RedisConnections } from './connection.js'
import { debugReplication } from './debug.js'
import { adapterError } from './errors.js'
import type { RedisKeys } from './keys.js'
import type { Subscriber } from './subscriber.js'

interface Subscription {
  readonly origin: string
  readonly listener: EnvelopeListener
}

/** FNV-1a: a cheap, stable spread of routing keys over the replication channels. */
function hash(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/**
 * What decides the bus channel of an envelope: envelopes for the same first user (or every broadcast) keep
 * their order, as do the replies to one server.
 */
function routingKey(envelope: BusEnvelope): string {
  switch (envelope.kind) {
    case 'disconnect':
    case 'subscription':
      return envelope.userIds[0] ?? ''
    case 'reply':
      return envelope.target
    case 'dispatch': {
      const first = envelope.recipients?.[0]
      return first === undefined || first === '*' ? '' : first
    }
  }
}

type BusEnvelope = Exclude<Envelope, ChannelEnvelope>

const isString = (value: unknown): value is string => typeof value === 'string'

/** The fields each kind is routed and delivered by; the rest is the receivers' business. */
function isEnvelope(value: unknown): value is Envelope {
  if (typeof value !== 'object' || value === null) return false
  const candidate = value as Record<string, unknown>
  if (!isString(candidate.origin)) return false
  switch (candidate.kind) {
    case 'dispatch':
      return isString(candidate.frame)
    case 'disconnect':
      return Array.isArray(candidate.userIds)
    case 'publication':
      return isString(candidate.channel) && isString(candidate.frame)
    case 'presence':
      return isString(candidate.channel) && isString(candidate.userId) && typeof candidate.joined === 'boolean'
    case 'subscription':
      return Array.isArray(candidate.userIds) && isString(candidate.channel) && typeof candidate.subscribe === 'boolean'
    case 'reply':
      return isString(candidate.target) && isString(candidate.socketId) && typeof candidate.requestId === 'number'
    default:
      return false
  }
}

/**
 * Replication over Redis pub/sub. Each envelope is published once, as JSON: a channel envelope (`publication`,
 * `presence`) on its Mesa channel's own pub/sub channel, which only adapters with an origin following the
 * channel subscribe to (`ChannelFollowing`); every other envelope on one of `channels` bus channels (chosen by
 * its first recipient), which every adapter subscribes to once it has a subscription. On a Cluster it uses
 * sharded pub/sub (SPUBLISH/SSUBSCRIBE), and the channels' hash tags spread them over the shards.
 */
export class Replication {
  private readonly subscriptions = new Set<Subscription>()
  private readonly busChannels: string[]

  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeys,
    channels: number,
    private readonly subscriber: Subscriber,
    private readonly following: ChannelFollowing,
    private readonly onError: (error: Error) => void,
  ) {
    this.busChannels = Array.from({ length: channels }, (_, i) => keys.replicationChannel(i))
  }

  async publish(envelope: Envelope): Promise<void> {
    const channel = isChannelEnvelope(envelope)
      ? this.keys.channel(envelope.channel)
      : this.busChannels[hash(routingKey(envelope)) % this.busChannels.length]!
    if (debugReplication.enabled) debugReplication('publish a %s envelope on %s', envelope.kind, channel)
    const payload = JSON.stringify(envelope)
    const { isCluster } = this.connections
    try {
      await this.connections.call((client) =>
        isCluster ? client.spublish(channel, payload) : client.publish(channel, payload),
      )
    } catch (error) {
      throw adapterError('Redis replication: publish failed', error)
    }
  }

  async subscribe(origin: string, listener: EnvelopeListener): Promise<() => Promise<void>> {
    const subscription: Subscription = { origin, listener }
    this.subscriptions.add(subscription)
    try {
      await this.subscriber.subscribe(this.busChannels)
    } catch (error) {
      this.subscriptions.delete(subscription)
      throw adapterError('Redis replication: subscribe failed', error)
    }
    return async () => {
      this.subscriptions.delete(subscription)
    }
  }

  close(): void {
    this.subscriptions.clear()
  }

  /** An envelope from the subscriber: to each subscription of another origin (following its channel, if it has one). */
  deliver(message: string): void {
    let envelope: unknown
    try {
      envelope = JSON.parse(message)
    } catch {
      envelope = undefined
    }
    if (!isEnvelope(envelope)) {
      this.onError(new AdapterError(`Redis replication: ignored a malformed envelope: ${message.slice(0, 200)}`))
      return
    }
    if (debugReplication.enabled) debugReplication('a %s envelope from %s', envelope.kind, envelope.origin)
    const channel = isChannelEnvelope(envelope) ? envelope.channel : undefined
    for (const subscription of this.subscriptions) {
      if (subscription.origin === envelope.origin) continue
      if (channel !== undefined && !this.following.follows(subscription.origin, channel)) continue
      try {
        subscription.listener(envelope)
      } catch (error) {
        this.onError(new AdapterError('an envelope listener threw', { cause: error }))
      }
    }
  }
}
