import { randomUUID } from 'node:crypto'
import { AdapterError, ConfigError, type StreamPosition, TypedEmitter } from '@mesa/core'
import {
  type Adapter,
  type AdapterEvents,
  checkPositiveInteger,
  type Envelope,
  type EnvelopeListener,
  type PublicationEnvelope,
  type RetentionOptions,
  type StoreEntryInput,
} from '@mesa/core/server'
import { Cluster } from 'ioredis'
import {
  DEFAULT_COMMAND_TIMEOUT_MS,
  type RedisClient,
  type RedisConnectionInput,
  RedisConnections,
  type RedisTimeoutError,
} from './connection.js'
import { ChannelFollowing, DEFAULT_CHANNEL_LINGER_MS } from './channel-following.js'
import { debugRedis, debugReplication } from './debug.js'
import { RedisDeduplicator } from './deduplicator.js'
import { adapterError } from './errors.js'
import { createKeys } from './keys.js'
import { RedisPortalQueue, type RedisPortalQueueOptions } from './portal-queue.js'
import { RedisPresence } from './presence.js'
import { PublicationBatch } from './publication-batch.js'
import { Replication } from './replication.js'
import { RedisStreamStore } from './stream-store.js'
import { Subscriber } from './subscriber.js'
import { RedisUserChannels } from './user-channels.js'

export interface RedisAdapterOptions {
  /** Prefix of every key and channel (`mesa:<namespace>:…`): adapters of two namespaces never see each other. Default `'default'`. */
  namespace?: string
  /** Bounds of each redelivery stream. Defaults: 1000 entries, 16 MiB, 24 hours. */
  retention?: RetentionOptions
  /**
   * How long (ms) a command may wait for Redis. Past it the call rejects (`StoreError` coded `store-timeout`,
   * `AdapterError` coded `adapter-timeout`), `error` is emitted, and (standalone, Sentinel) further calls reject
   * at once until Redis answers again, which `ready` announces. Blocking reads of portals wait longer by design.
   * Default 2000.
   */
  commandTimeoutMs?: number
  /**
   * How long (ms) the sockets of a server that stopped without closing its adapter (crash, SIGKILL) keep
   * their users online. The liveness key is refreshed every third of it. Default 15000.
   */
  presenceTtlMs?: number
  /** Names this adapter in presence; unique per process. Default: a random UUID. */
  serverId?: string
  /** Pub/sub channels replication spreads over (useful on a Cluster, where each lands on a shard). Default 1, or 16 on a Cluster. */
  replicationChannels?: number
  /**
   * How long (ms) the pub/sub channel of a Mesa channel this adapter no longer follows stays subscribed (up to a
   * quarter more), so that sockets subscribing and unsubscribing over and over cost no Redis command. 0
   * unsubscribes with the next tick. Default 1000.
   */
  channelLingerMs?: number
  /** Portal queue tuning: claim timeout, bound, concurrency, intervals. */
  portal?: RedisPortalQueueOptions
}

export const DEFAULT_PRESENCE_TTL_MS = 15_000

/** What a stall of Redis counts as among the connections that are down. */
const STALL = 'stall'

/**
 * The adapter for several processes sharing Redis (standalone, Sentinel or Cluster): replication over
 * pub/sub (a bus for envelopes to users, and one channel per Mesa channel, subscribed only while an origin of
 * this adapter follows it), presence (of users and in channels) with per-server liveness, redelivery history on
 * Redis Streams, the portal queue on a stream consumer group and the deduplicator of acknowledged sends. Failures of the connection are reported as `error` events (once per outage and
 * connection) and never thrown at the host; `ready` follows when every connection is back and subscribed.
 */
export class RedisAdapter extends TypedEmitter<AdapterEvents> implements Adapter {
  readonly namespace: string
  readonly serverId: string
  readonly presence: RedisPresence
  readonly store: RedisStreamStore
  readonly portal: RedisPortalQueue
  readonly dedupe: RedisDeduplicator
  readonly userChannels: RedisUserChannels
  /** The connection commands go through (yours, when you passed a client). */
  readonly client: RedisClient
  /**
   * `Adapter.storeAndPublish`: a stored channel publication appended and published by one script, the
   * publications of a tick by one call (`PublicationBatch`). Standalone and Sentinel only: on a Cluster the stream
   * and the pub/sub channel hash to different slots, so it is absent there and publishers append, then publish.
   */
  readonly storeAndPublish?: (stream: string, entry: StoreEntryInput, envelope: PublicationEnvelope) => Promise<StreamPosition>
  private readonly connections: RedisConnections
  private readonly subscriber: Subscriber
  private readonly following: ChannelFollowing
  private readonly replication: Replication
  /** Connections currently down, by label. */
  private readonly down = new Set<string>()
  private outage = false
  private readonly unwatch: (() => void)[] = []
  private closing: Promise<void> | undefined

  constructor(connection: RedisConnectionInput, options: RedisAdapterOptions = {}) {
    super()
    const keys = createKeys(options.namespace ?? 'default')
    const presenceTtlMs = options.presenceTtlMs ?? DEFAULT_PRESENCE_TTL_MS
    if (!Number.isSafeInteger(presenceTtlMs) || presenceTtlMs < 3) {
      throw new ConfigError(`presenceTtlMs must be an integer of at least 3 (ms), got ${String(presenceTtlMs)}`)
    }
    const commandTimeoutMs = checkPositiveInteger(
      'commandTimeoutMs',
      options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    )
    this.namespace = keys.namespace
    this.serverId = options.serverId ?? randomUUID()
    this.connections = new RedisConnections(connection, commandTimeoutMs)
    this.client = this.connections.command
    const onError = (error: Error) => {
      if (!this.closing) this.emit('error', error)
    }
    try {
      const channels = options.replicationChannels ?? (this.connections.isCluster ? 16 : 1)
      if (!Number.isSafeInteger(channels) || channels < 1 || channels > 1024) {
        throw new ConfigError(`replicationChannels must be an integer from 1 to 1024, got ${String(channels)}`)
      }
      const lingerMs = options.channelLingerMs ?? DEFAULT_CHANNEL_LINGER_MS
      if (!Number.isSafeInteger(lingerMs) || lingerMs < 0) {
        throw new ConfigError(`channelLingerMs must be a non-negative integer (ms), got ${String(lingerMs)}`)
      }
      this.store = new RedisStreamStore(this.connections, keys, options.retention)
      this.portal = new RedisPortalQueue(this.connections, keys, onError, options.portal)
      this.dedupe = new RedisDeduplicator(this.connections, keys)
      this.userChannels = new RedisUserChannels(this.connections, keys)
      this.subscriber = new Subscriber(this.connections, {
        onMessage: (message) => this.replication.deliver(message),
        watch: (client, label) => this.watch(client, label),
      })
      this.following = new ChannelFollowing(this.subscriber, keys, lingerMs)
      this.replication = new Replication(this.connections, keys, channels, this.subscriber, this.following, onError)
      if (!this.connections.isCluster) {
        const batch = new PublicationBatch(this.store)
        this.storeAndPublish = async (stream, entry, envelope) => {
          if (this.closing) throw new AdapterError('cannot publish: the adapter is closed')
          const channel = keys.channel(envelope.channel)
          if (debugReplication.enabled) debugReplication('store and publish a publication on %s', channel)
          return batch.add({ stream, entry, channel, payload: JSON.stringify(envelope) })
        }
      }
      // Last: it starts the heartbeat timer.
      this.presence = new RedisPresence(this.connections, keys, { serverId: this.serverId, ttlMs: presenceTtlMs, onError })
    } catch (error) {
      this.connections.close().catch(() => {})
      throw error
    }
    this.watch(this.client, 'command')
    this.connections.on('stalled', this.stalled)
    this.connections.on('answered', this.answered)
    this.unwatch.push(() => {
      this.connections.off('stalled', this.stalled)
      this.connections.off('answered', this.answered)
    })
    debugRedis('adapter %s in namespace %s (%s)', this.serverId, this.namespace, this.connections.isCluster ? 'cluster' : 'standalone')
  }

  async publish(envelope: Envelope): Promise<void> {
    if (this.closing) throw new AdapterError('cannot publish: the adapter is closed')
    await this.replication.publish(envelope)
  }

  async subscribe(origin: string, listener: EnvelopeListener): Promise<() => Promise<void>> {
    if (this.closing) throw new AdapterError('cannot subscribe: the adapter is closed')
    return this.replication.subscribe(origin, listener)
  }

  async follow(origin: string, channels: readonly string[]): Promise<void> {
    if (this.closing) throw new AdapterError('cannot follow channels: the adapter is closed')
    try {
      await this.following.follow(origin, channels)
    } catch (error) {
      throw adapterError('Redis replication: following channels failed', error)
    }
  }

  async unfollow(origin: string, channels: readonly string[]): Promise<void> {
    if (!this.closing) this.following.unfollow(origin, channels)
  }

  /** Stops timers and consumers, removes this server's presence, and closes the connections it opened. */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.shutdown()
    return this.closing
  }

  private async shutdown(): Promise<void> {
    debugRedis('closing adapter %s', this.serverId)
    this.replication.close()
    this.following.close()
    this.subscriber.close()
    await this.portal.close()
    // Best effort within a second: when Redis is down the survivors' sweep removes us after the TTL anyway.
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([
      this.presence.stop().catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 1000)
      }),
    ])
    clearTimeout(timer)
    await this.connections.close()
    for (const stop of this.unwatch.splice(0)) stop()
  }

  /** Redis left a command unanswered past `commandTimeoutMs`: an outage, until it answers. */
  private readonly stalled = (error: RedisTimeoutError) => this.lost(STALL, error, 'Redis command connection')
  private readonly answered = () => void this.recovered(STALL)

  private lost(label: string, error: Error, what = `Redis ${label} connection`): void {
    if (this.closing || this.down.has(label)) return
    this.down.add(label)
    this.outage = true
    debugRedis('%s lost: %s', what, error.message)
    this.emit('error', adapterError(what, error))
  }

  private watch(client: RedisClient, label: string): void {
    const lost = (error: Error) => this.lost(label, error)
    const closed = () => lost(new Error('connection closed'))
    const ready = () => void this.recovered(label)
    client.on('error', lost)
    client.on('close', closed)
    client.on('ready', ready)
    // A Cluster stays `ready` while one of its masters is gone (its slots fail until a replica takes over):
    // only its node connections tell. Only masters count: every command goes to a master, and after a failover
    // the dead master stays in the slot map as a replica until the cluster marks it failed, so ioredis's slot
    // map refreshes, which ask a node picked at random, may still try it (ECONNREFUSED) after the adapter was
    // back: that is no outage. It is back once a slot map refresh has no failed master left (a replica took
    // over, or the node is connected again), or, for the sharded subscriber, once ioredis has made its shards'
    // subscriber connections again (`subscribersReady`): a shard's subscriber that fails to connect is reported
    // as the client's `error`, with no `ready` to follow, while the client itself stays ready. Recovering the
    // subscriber resubscribes every channel, so a shard still missing fails that, and it is tried again.
    const failed = new Set<string>()
    const masters = (cluster: Cluster) =>
      new Map(cluster.nodes('master').map((node) => [`${node.options.host}:${node.options.port}`, node]))
    const nodeLost = (error: Error, address: string) => {
      if (!(client instanceof Cluster) || !masters(client).has(address)) return
      failed.add(address)
      lost(new Error(`node ${address}: ${error.message}`))
    }
    const refreshed = () => {
      if (!(client instanceof Cluster)) return
      const nodes = masters(client)
      for (const address of failed) {
        const node = nodes.get(address)
        if (!node || node.status === 'ready') failed.delete(address)
      }
      if (failed.size === 0) ready()
    }
    if (client instanceof Cluster) {
      client.on('node error', nodeLost)
      client.on('refresh', refreshed)
      client.on('subscribersReady', refreshed)
    }
    // A client passed in outlives the adapter: leave no listener behind on it.
    this.unwatch.push(() => {
      client.off('error', lost)
      client.off('close', closed)
      client.off('ready', ready)
      client.off('node error', nodeLost)
      client.off('refresh', refreshed)
      client.off('subscribersReady', refreshed)
    })
  }

  private async recovered(label: string): Promise<void> {
    if (this.closing || !this.down.has(label)) return
    if (label === 'subscriber') {
      try {
        await this.subscriber.resubscribe()
      } catch (error) {
        if (this.closing) return
        this.emit('error', adapterError('Redis replication: resubscribe failed (retrying)', error))
        setTimeout(() => void this.recovered(label), 1000).unref()
        return
      }
    }
    this.down.delete(label)
    debugRedis('%s connection back', label)
    // A stall also ends when its connection closes, which is reported as lost (down) just after.
    if (this.down.size > 0 || !this.outage || this.closing || this.connections.unavailable()) return
    this.outage = false
    debugRedis('every connection is back: reconciling presence')
    // Redis may have lost our presence, or missed joins and leaves, while it was away: reconcile first.
    this.presence.markDirty()
    await this.presence.tick()
    if (!this.closing) this.emit('ready')
  }
}

/**
 * The factory behind `new Mesa({ redis: 'redis://…' })`, `new Portal('redis://…')` and
 * `new Dispatcher('redis://…')`, which load this package lazily.
 */
export function createRedisAdapter(connection: RedisConnectionInput, options: RedisAdapterOptions = {}): RedisAdapter {
  return new RedisAdapter(connection, options)
}
