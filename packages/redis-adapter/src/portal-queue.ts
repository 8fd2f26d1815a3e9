import {
  AdapterError,
  checkPositiveInteger,
  ConfigError,
  type PortalConsumer,
  type PortalConsumerOptions,
  type PortalEvent,
  type PortalHandler,
  type PortalMembershipListener,
  type PortalQueue,
  PortalQueueFullError,
} from '@mesa/core'
import type { RedisConnections } from './connection.js'
import { debugPortalQueue } from './debug.js'
import { adapterError } from './errors.js'
import type { RedisKeys } from './keys.js'
import { PortalMembers } from './portal-members.js'
import { MembershipStore } from './portal-membership.js'
import { MembershipWatch } from './portal-membership-watch.js'
import { PortalObserver } from './portal-observer.js'
import { GROUP, PENDING, PUSH, type QueueKeys } from './portal-scripts.js'
import { PortalWorker, type PortalWorkerSettings } from './portal-worker.js'

export interface RedisPortalQueueOptions {
  /** Time (ms) an event may stay unacknowledged before another portal claims it. Default 30000. */
  claimTimeoutMs?: number
  /**
   * Unhandled events (waiting for a portal or in flight, counted from the oldest unacknowledged one); beyond
   * it `push` rejects with `PortalQueueFullError`. Default 10000.
   */
  maxPending?: number
  /**
   * Bytes of unhandled events (counted as `maxPending` is, each event as the length of its JSON); a `push` that
   * would go beyond it rejects with `PortalQueueFullError`. Default 67108864 (64 MiB).
   */
  maxPendingBytes?: number
  /** Events one portal handles at once. Default 64. */
  concurrency?: number
  /** How often (ms) each portal claims timed-out events and trims handled ones. Default 1000. */
  claimIntervalMs?: number
  /** How long (ms) one blocking read waits for new events before reading again. Default 2000. */
  blockMs?: number
  /**
   * How long (ms) a portal that stopped without closing (crash, SIGKILL) stays a member: servers get its
   * `onPortalLeave` at most this much later. Its membership is refreshed every third of it. Default 15000.
   */
  memberTtlMs?: number
}

export const DEFAULT_MEMBER_TTL_MS = 15_000
export const DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024

/**
 * Portal queue on a Redis stream with one consumer group. Portals without `reportAllEvents` read it with
 * XREADGROUP (each event goes to one of them), acknowledge with XACK once their handler resolves, and claim
 * events left unacknowledged for `claimTimeoutMs` by a portal that crashed or hung (never those their own
 * handlers still run: a hung portal cannot keep its event from the others). A rejected event is marked
 * claimable at once, so the next claim (within `claimIntervalMs`, by any portal) retries it.
 * `reportAllEvents` portals read the stream with their own cursor (XREAD) and observe every event pushed
 * while they consume, best effort; they take no share of the handling.
 *
 * Every consumer is a member of the namespace's portals while it consumes (`watchMembers`), kept alive by one
 * timer per adapter and removed when it closes or, if its process died, once its `memberTtlMs` lapsed.
 */
export class RedisPortalQueue implements PortalQueue {
  private readonly settings: PortalWorkerSettings
  private readonly queueKeys: QueueKeys
  private readonly consumers = new Set<PortalConsumer>()
  private readonly membership: MembershipStore
  private readonly members: PortalMembers
  private readonly memberTtlMs: number
  private watch: Promise<MembershipWatch> | undefined
  /** `watchMembers` calls holding the watch (started or starting): it closes when none remains. */
  private watchUsers = 0
  private closed = false

  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeys,
    private readonly onError: (error: Error) => void,
    options: RedisPortalQueueOptions = {},
  ) {
    const claimTimeoutMs = checkPositiveInteger('portal.claimTimeoutMs', options.claimTimeoutMs ?? 30_000)
    const blockMs = checkPositiveInteger('portal.blockMs', options.blockMs ?? 2000)
    this.settings = {
      claimTimeoutMs,
      maxPending: checkPositiveInteger('portal.maxPending', options.maxPending ?? 10_000),
      maxPendingBytes: checkPositiveInteger(
        'portal.maxPendingBytes',
        options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES,
      ),
      concurrency: checkPositiveInteger('portal.concurrency', options.concurrency ?? 64),
      claimIntervalMs: checkPositiveInteger('portal.claimIntervalMs', options.claimIntervalMs ?? 1000),
      blockMs,
      staleConsumerMs: Math.max(claimTimeoutMs * 2, blockMs * 10),
    }
    const memberTtlMs = options.memberTtlMs ?? DEFAULT_MEMBER_TTL_MS
    if (!Number.isSafeInteger(memberTtlMs) || memberTtlMs < 3) {
      throw new ConfigError(`portal.memberTtlMs must be an integer of at least 3 (ms), got ${String(memberTtlMs)}`)
    }
    this.memberTtlMs = memberTtlMs
    this.queueKeys = [keys.portalEvents, keys.portalEventsBytes]
    this.membership = new MembershipStore(connections, keys)
    this.members = new PortalMembers(this.membership, connections, memberTtlMs, onError)
  }

  async push(event: PortalEvent): Promise<void> {
    const { maxPending, maxPendingBytes } = this.settings
    let added: unknown
    try {
      added = await this.connections.call((client) =>
        PUSH.run(client, this.queueKeys, [GROUP, maxPending, maxPendingBytes, JSON.stringify(event)]),
      )
    } catch (error) {
      throw adapterError('Redis portal queue: push failed', error)
    }
    if (added === 0 || added === -1) {
      debugPortalQueue('queue full (%s): event refused', added === 0 ? `${maxPending} events` : `${maxPendingBytes} bytes`)
    }
    if (added === 0) throw new PortalQueueFullError(maxPending)
    if (added === -1) throw new PortalQueueFullError(maxPendingBytes, 'maxPendingBytes')
  }

  /** Events no portal has finished: waiting in the stream for the group, or delivered and not acknowledged. */
  async pending(): Promise<number> {
    try {
      return Number(await this.connections.call((client) => PENDING.run(client, [this.queueKeys[0]], [GROUP])))
    } catch (error) {
      throw adapterError('Redis portal queue: reading its depth failed', error)
    }
  }

  async consume(options: PortalConsumerOptions, handler: PortalHandler): Promise<PortalConsumer> {
    const { consumerId } = options
    if (typeof consumerId !== 'string' || consumerId.length === 0) {
      throw new ConfigError('consumerId must be a non-empty string')
    }
    if (this.closed) throw new AdapterError('Redis portal queue: closed')
    const key = this.keys.portalEvents
    const reader = options.reportAllEvents
      ? await PortalObserver.start(this.connections, key, handler, this.settings.blockMs, this.onError)
      : await PortalWorker.start(this.connections, this.queueKeys, consumerId, handler, this.settings, this.onError)
    try {
      await this.members.add(consumerId)
    } catch (error) {
      await reader.close()
      throw error
    }
    let closing: Promise<void> | undefined
    const consumer: PortalConsumer = {
      // The portal leaves once it stopped reading, so a watcher never sees it gone while it still takes events.
      close: () => {
        closing ??= (async () => {
          this.consumers.delete(consumer)
          await reader.close()
          await this.members.remove(consumerId)
        })()
        return closing
      },
    }
    this.consumers.add(consumer)
    return consumer
  }

  async watchMembers(listener: PortalMembershipListener): Promise<() => Promise<void>> {
    if (typeof listener !== 'function') throw new ConfigError('watchMembers takes a listener function')
    if (this.closed) throw new AdapterError('Redis portal queue: closed')
    this.watchUsers++
    this.watch ??= MembershipWatch.start(
      this.membership,
      this.connections,
      { intervalMs: Math.max(1, Math.floor(this.memberTtlMs / 3)), graceMs: this.memberTtlMs },
      this.onError,
    )
    const starting = this.watch
    let watch: MembershipWatch
    try {
      watch = await starting
    } catch (error) {
      // Another call may have started a new watch since: only a failed one is forgotten.
      if (this.watch === starting) this.watch = undefined
      this.watchUsers--
      throw error
    }
    if (this.closed) throw new AdapterError('Redis portal queue: closed')
    const watcher = watch.add(listener)
    return async () => {
      if (watch.remove(watcher)) await this.releaseWatch()
    }
  }

  /** Stops every consumer of this adapter (they leave the membership) and the membership watch. */
  async close(): Promise<void> {
    this.closed = true
    await Promise.all([...this.consumers].map((consumer) => consumer.close()))
    this.members.close()
    const watch = this.watch
    this.watch = undefined
    await (await watch?.catch(() => undefined))?.close()
  }

  private async releaseWatch(): Promise<void> {
    this.watchUsers--
    if (this.watchUsers > 0 || !this.watch) return
    const watch = this.watch
    this.watch = undefined
    await (await watch.catch(() => undefined))?.close()
  }
}
