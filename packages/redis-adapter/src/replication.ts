import { AdapterError, type Envelope, type EnvelopeListener } from '@mesa/core'
import type { RedisClient, RedisConnections } from './connection.js'
import { debugReplication } from './debug.js'
import { adapterError } from './errors.js'
import type { RedisKeys } from './keys.js'

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

/** What decides the channel: envelopes for the same first user (or every broadcast) keep their order. */
function routingKey(envelope: Envelope): string {
  if (envelope.kind === 'disconnect') return envelope.userIds[0] ?? ''
  const first = envelope.recipients?.[0]
  return first === undefined || first === '*' ? '' : first
}

function isEnvelope(value: unknown): value is Envelope {
  if (typeof value !== 'object' || value === null) return false
  const candidate = value as Record<string, unknown>
  if (typeof candidate.origin !== 'string') return false
  if (candidate.kind === 'dispatch') return typeof candidate.frame === 'string'
  if (candidate.kind === 'disconnect') return Array.isArray(candidate.userIds)
  return false
}

/**
 * Replication over Redis pub/sub: each envelope is published once, as JSON, on one of `channels` channels
 * (chosen by its first recipient); every adapter subscribes to all of them on a dedicated connection. On a
 * Cluster it uses sharded pub/sub (SPUBLISH/SSUBSCRIBE), and the channels' hash tags spread them over shards.
 */
export class Replication {
  private readonly subscriptions = new Set<Subscription>()
  private readonly channelNames: string[]
  private subscriber: RedisClient | undefined
  private subscribing: Promise<void> | undefined

  constructor(
    private readonly connections: RedisConnections,
    keys: RedisKeys,
    channels: number,
    private readonly onError: (error: Error) => void,
    private readonly watch: (client: RedisClient, label: string) => void,
  ) {
    this.channelNames = Array.from({ length: channels }, (_, i) => keys.replicationChannel(i))
  }

  async publish(envelope: Envelope): Promise<void> {
    const channel = this.channelNames[hash(routingKey(envelope)) % this.channelNames.length]!
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
      await this.start()
    } catch (error) {
      this.subscriptions.delete(subscription)
      throw adapterError('Redis replication: subscribe failed', error)
    }
    return async () => {
      this.subscriptions.delete(subscription)
    }
  }

  /**
   * Subscribes again to every channel. ioredis resubscribes by itself after a reconnect without waiting for
   * the reply; this waits for it, so `ready` is only announced once messages flow again.
   */
  async resubscribe(): Promise<void> {
    if (this.subscriber) await this.subscribeAll(this.subscriber)
  }

  close(): void {
    this.subscriptions.clear()
    if (this.subscriber) this.connections.release(this.subscriber)
    this.subscriber = undefined
  }

  private start(): Promise<void> {
    if (!this.subscribing) {
      const subscriber = this.connections.duplicate('subscriber')
      this.subscriber = subscriber
      this.watch(subscriber, 'subscriber')
      const deliver = (_channel: string, message: string) => this.deliver(message)
      subscriber.on(this.connections.isCluster ? 'smessage' : 'message', deliver)
      this.subscribing = this.subscribeAll(subscriber).catch((error: unknown) => {
        this.subscribing = undefined
        this.connections.release(subscriber)
        if (this.subscriber === subscriber) this.subscriber = undefined
        throw error
      })
    }
    return this.subscribing
  }

  /** Within `commandTimeoutMs`: a subscription Redis does not confirm counts as failed (and is tried again). */
  private async subscribeAll(subscriber: RedisClient): Promise<void> {
    if (this.connections.isCluster) {
      // Channels of different slots cannot share one SSUBSCRIBE.
      await Promise.all(this.channelNames.map((channel) => this.connections.timed(subscriber.ssubscribe(channel))))
    } else {
      await this.connections.timed(subscriber.subscribe(...this.channelNames))
    }
    debugReplication('subscribed to %d channels', this.channelNames.length)
  }

  private deliver(message: string): void {
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
    for (const subscription of this.subscriptions) {
      if (subscription.origin === envelope.origin) continue
      try {
        subscription.listener(envelope)
      } catch (error) {
        this.onError(new AdapterError('an envelope listener threw', { cause: error }))
      }
    }
  }
}
