import { Cluster, type ClusterNode, type ClusterOptions, Redis, type RedisOptions } from 'ioredis'

/** A Redis Cluster given by its startup nodes. */
export interface ClusterConnectionOptions {
  cluster: ClusterNode[]
  clusterOptions?: ClusterOptions
}

/**
 * Where Redis is: a URL (`redis://`, `rediss://`), ioredis options (standalone or Sentinel), startup nodes of a
 * Cluster, or a connected ioredis `Redis` / `Cluster` client. A client you pass stays yours: the adapter
 * duplicates it for pub/sub and blocking reads and never quits it.
 */
export type RedisConnectionInput = string | RedisOptions | ClusterConnectionOptions | Redis | Cluster

export type RedisClient = Redis | Cluster

/**
 * ioredis retries a command up to 20 times by default while disconnected; a store call would then hang for
 * many seconds before the caller learns it failed. Connections the adapter creates fail fast instead and
 * reconnect with capped exponential backoff.
 */
const FAIL_FAST: RedisOptions = {
  maxRetriesPerRequest: 2,
  retryStrategy: (times) => Math.min(50 * 2 ** times, 1000),
}

/**
 * Through Sentinel, leave a master as soon as Sentinel announces its replacement (`+switch-master`). A master
 * that `SENTINEL FAILOVER` replaced stays up and keeps accepting writes until Sentinel reconfigures it as a
 * replica, seconds later, and those writes are then lost; without this, ioredis stays on it until then.
 */
const SENTINEL: RedisOptions = { failoverDetector: true }

/** How often a Cluster subscriber re-reads the slot map (unless `clusterOptions.slotsRefreshInterval` is set). */
export const SUBSCRIBER_SLOTS_REFRESH_MS = 1000

function isClusterOptions(input: RedisConnectionInput): input is ClusterConnectionOptions {
  return typeof input === 'object' && input !== null && 'cluster' in input && Array.isArray(input.cluster)
}

/** The adapter's connections: one for commands, duplicates for pub/sub and for each blocking reader. */
export class RedisConnections {
  readonly command: RedisClient
  readonly isCluster: boolean
  private readonly ownsCommand: boolean
  private readonly duplicates = new Set<RedisClient>()
  private everReady = false
  private failedToConnect = false

  constructor(input: RedisConnectionInput) {
    if (input instanceof Redis || input instanceof Cluster) {
      this.command = input
      this.ownsCommand = false
    } else if (typeof input === 'string') {
      this.command = new Redis(input, FAIL_FAST)
      this.ownsCommand = true
    } else if (isClusterOptions(input)) {
      this.command = new Cluster(input.cluster, {
        ...input.clusterOptions,
        redisOptions: { ...FAIL_FAST, ...input.clusterOptions?.redisOptions },
      })
      this.ownsCommand = true
    } else {
      this.command = new Redis({ ...FAIL_FAST, ...(input.sentinels ? SENTINEL : {}), ...input })
      this.ownsCommand = true
    }
    this.isCluster = this.command instanceof Cluster
    if (this.command.status === 'ready') this.everReady = true
    this.command.on('ready', this.onReady)
    this.command.on('error', this.onError)
  }

  private readonly onReady = () => {
    this.everReady = true
  }

  private readonly onError = () => {
    this.failedToConnect = true
  }

  /**
   * Why a command cannot be sent now, if it cannot: the connection was lost (or never made) and is not back.
   * Callers fail at once rather than wait in ioredis's offline queue for retries that may take seconds; a
   * client that is still making its first connection is given the chance to finish.
   */
  unavailable(): string | undefined {
    const { status } = this.command
    if (status === 'ready') return undefined
    if (status === 'end') return 'the connection to Redis is closed'
    if (this.everReady || this.failedToConnect) return `Redis is unreachable (connection ${status})`
    return undefined
  }

  /**
   * A new connection with the command connection's settings. Cluster duplicates for pub/sub use sharded
   * subscribers, so each channel is served by the shard that owns its slot, and re-read the slot map
   * periodically: when a slot moves, Redis drops the subscriptions to its channels with an unsolicited
   * SUNSUBSCRIBE that ioredis does not act on, and only a refresh that sees the new map subscribes again on
   * the new owner (a subscriber, which sends no keyed commands, never gets a MOVED that would trigger one).
   */
  duplicate(purpose: 'subscriber' | 'blocking'): RedisClient {
    const client =
      this.command instanceof Cluster
        ? this.command.duplicate(
            undefined,
            purpose === 'subscriber'
              ? {
                  shardedSubscribers: true,
                  slotsRefreshInterval: this.command.options.slotsRefreshInterval ?? SUBSCRIBER_SLOTS_REFRESH_MS,
                }
              : {},
          )
        : this.command.duplicate(purpose === 'blocking' ? { maxRetriesPerRequest: null } : {})
    this.duplicates.add(client)
    return client
  }

  /** Closes a duplicate at once: a blocked read would otherwise hold `quit` until its timeout. */
  release(client: RedisClient): void {
    if (!this.duplicates.delete(client)) return
    client.disconnect()
  }

  async close(): Promise<void> {
    for (const client of this.duplicates) client.disconnect()
    this.duplicates.clear()
    this.command.off('ready', this.onReady)
    this.command.off('error', this.onError)
    if (!this.ownsCommand || this.command.status === 'end') return
    if (this.command.status !== 'ready') {
      this.command.disconnect()
      return
    }
    // QUIT lets queued replies arrive; resolving on 'end' means no socket is left open when close() returns.
    const ended = new Promise<void>((resolve) => this.command.once('end', resolve))
    const command = this.command
    const timer = setTimeout(() => command.disconnect(), 1000)
    await command.quit().catch(() => command.disconnect())
    await ended
    clearTimeout(timer)
  }
}
