import { MesaError, TypedEmitter } from '@mesa/core'
import { Cluster, type ClusterNode, type ClusterOptions, Redis, type RedisOptions } from 'ioredis'
import { CommandDeadlines, type Waiting } from './command-deadlines.js'
import { WriteCoalescing } from './write-coalescing.js'

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

/** Duplicates (see `RedisConnections.duplicate`) destroy their socket as soon as they are released. */
const DUPLICATE: RedisOptions = { disconnectTimeout: 0 }

/** How often a Cluster subscriber re-reads the slot map (unless `clusterOptions.slotsRefreshInterval` is set). */
export const SUBSCRIBER_SLOTS_REFRESH_MS = 1000

/** How long (ms) a command may go unanswered when `commandTimeoutMs` is not given. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 2000

/**
 * Redis did not answer a command within `commandTimeoutMs` (a hung or overloaded server, a connection that
 * stopped without closing), or has not answered since another one timed out. The cause of the `StoreError` /
 * `AdapterError` (codes `store-timeout`, `adapter-timeout`) the call rejects with. Redis may still run the
 * command when it answers again: a write that timed out may be carried out.
 */
export class RedisTimeoutError extends MesaError {
  constructor(message: string) {
    super('redis-timeout', message)
  }
}

export interface RedisConnectionsEvents {
  /** A command on the command connection timed out: Redis stopped answering. Once until it answers again. */
  stalled: [RedisTimeoutError]
  /** Redis answered every command that had timed out (or their connection closed, failing them). */
  answered: []
}

function isClusterOptions(input: RedisConnectionInput): input is ClusterConnectionOptions {
  return typeof input === 'object' && input !== null && 'cluster' in input && Array.isArray(input.cluster)
}

/**
 * The adapter's connections: one for commands, duplicates for pub/sub and for each blocking reader. Commands
 * go through `call()`, which bounds how long they wait for Redis.
 */
export class RedisConnections extends TypedEmitter<RedisConnectionsEvents> {
  readonly command: RedisClient
  readonly isCluster: boolean
  private readonly ownsCommand: boolean
  private readonly duplicates = new Set<RedisClient>()
  private everReady = false
  private failedToConnect = false
  /** Commands on the command connection that timed out and are still unanswered. */
  private readonly late = new Set<Waiting>()
  private readonly coalescing: WriteCoalescing
  private readonly deadlines: CommandDeadlines

  constructor(
    input: RedisConnectionInput,
    private readonly commandTimeoutMs = DEFAULT_COMMAND_TIMEOUT_MS,
  ) {
    super()
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
    this.coalescing = new WriteCoalescing(this.command)
    this.deadlines = new CommandDeadlines(commandTimeoutMs, this.expired)
    if (this.command.status === 'ready') this.everReady = true
    this.command.on('ready', this.onReady)
    this.command.on('error', this.onError)
    this.command.on('close', this.onClose)
  }

  private readonly onReady = () => {
    this.everReady = true
  }

  private readonly onError = () => {
    this.failedToConnect = true
  }

  /**
   * ioredis fails or resends what the closed connection had in flight, but not always at once (a command queued
   * while it reconnects waits for it), and the connection's state now says whether commands can be sent.
   */
  private readonly onClose = () => {
    if (this.late.size === 0) return
    this.late.clear()
    this.emit('answered')
  }

  /**
   * Why a command cannot be sent now, if it cannot: the connection was lost (or never made) and is not back, or
   * (standalone and Sentinel) a command timed out and Redis has not answered since. Callers fail at once rather
   * than wait in ioredis's offline queue for retries that may take seconds, or pile more commands behind
   * unanswered ones; a client that is still making its first connection is given the chance to finish. A
   * Cluster's nodes stall one by one, so there every call is given its own `commandTimeoutMs`.
   */
  unavailable(): Error | undefined {
    const { status } = this.command
    if (status === 'end') return new Error('the connection to Redis is closed')
    if (status !== 'ready' && (this.everReady || this.failedToConnect)) {
      return new Error(`Redis is unreachable (connection ${status})`)
    }
    if (this.late.size > 0 && !this.isCluster) {
      return new RedisTimeoutError(
        `Redis has not answered for more than ${this.commandTimeoutMs} ms (commandTimeoutMs)`,
      )
    }
    return undefined
  }

  /**
   * Runs `run` on the command connection (at once rejected with `unavailable()`'s reason, if any); rejects with
   * `RedisTimeoutError` when Redis has not answered within `commandTimeoutMs`. `run` should send one command
   * (or script): the bound is per command.
   */
  call<T>(run: (client: RedisClient) => Promise<T>): Promise<T> {
    const unavailable = this.unavailable()
    if (unavailable) return Promise.reject(unavailable)
    this.coalescing.hold()
    return this.deadline(run(this.command), true)
  }

  /**
   * `command`, sent on a duplicate (a subscription), or a `RedisTimeoutError` once it has gone unanswered for
   * `commandTimeoutMs`. Unlike `call()`, this does not count as a stall of the command connection.
   */
  timed<T>(command: Promise<T>): Promise<T> {
    return this.deadline(command, false)
  }

  /**
   * Until a command of the command connection that timed out is answered (or failed by its connection closing),
   * Redis counts as stalled: `stalled` is emitted when the first one times out, `answered` when none is left.
   */
  private deadline<T>(command: Promise<T>, tracked: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiting = this.deadlines.add(reject, tracked)
      command.then(
        (value) => {
          this.settled(waiting)
          resolve(value)
        },
        (error: unknown) => {
          this.settled(waiting)
          reject(error)
        },
      )
    })
  }

  private readonly expired = (waiting: Waiting): void => {
    const ms = this.commandTimeoutMs
    const error = new RedisTimeoutError(`Redis did not answer within ${ms} ms (commandTimeoutMs)`)
    if (waiting.tracked) {
      this.late.add(waiting)
      if (this.late.size === 1) this.emit('stalled', error)
    }
    waiting.reject(error)
  }

  private settled(waiting: Waiting): void {
    this.deadlines.settle(waiting)
    if (this.late.delete(waiting) && this.late.size === 0) this.emit('answered')
  }

  /**
   * A new connection with the command connection's settings. Cluster duplicates for pub/sub use sharded
   * subscribers, so each channel is served by the shard that owns its slot, and re-read the slot map
   * periodically: when a slot moves, Redis drops the subscriptions to its channels with an unsolicited
   * SUNSUBSCRIBE that ioredis does not act on, and only a refresh that sees the new map subscribes again on
   * the new owner (a subscriber, which sends no keyed commands, never gets a MOVED that would trigger one).
   * A duplicate has nothing to flush when released, so its socket is destroyed at once rather than ended
   * gracefully: ioredis would otherwise wait up to `disconnectTimeout` (2 s) for a hung Redis to close it, and
   * the read it was blocked in would not fail until then.
   */
  duplicate(purpose: 'subscriber' | 'blocking'): RedisClient {
    const client =
      this.command instanceof Cluster
        ? this.command.duplicate(undefined, {
            redisOptions: { ...this.command.options.redisOptions, ...DUPLICATE },
            ...(purpose === 'subscriber'
              ? {
                  shardedSubscribers: true,
                  slotsRefreshInterval: this.command.options.slotsRefreshInterval ?? SUBSCRIBER_SLOTS_REFRESH_MS,
                }
              : {}),
          })
        : this.command.duplicate(purpose === 'blocking' ? { ...DUPLICATE, maxRetriesPerRequest: null } : DUPLICATE)
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
    this.command.off('close', this.onClose)
    if (!this.ownsCommand || this.command.status === 'end') return
    // A hung Redis would answer QUIT no sooner than the commands it left unanswered.
    if (this.command.status !== 'ready' || this.late.size > 0) {
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
