import {
  AdapterError,
  ConfigError,
  type PortalConsumer,
  type PortalConsumerOptions,
  type PortalEvent,
  type PortalHandler,
  type PortalQueue,
  PortalQueueFullError,
} from '@mesa/core'
import type { RedisConnections } from './connection.js'
import type { RedisKeys } from './keys.js'
import { PortalObserver } from './portal-observer.js'
import { errorMessage, GROUP, PUSH } from './portal-scripts.js'
import { PortalWorker, type PortalWorkerSettings } from './portal-worker.js'

export interface RedisPortalQueueOptions {
  /** Time (ms) an event may stay unacknowledged before another portal claims it. Default 30000. */
  claimTimeoutMs?: number
  /**
   * Unhandled events (waiting for a portal or in flight, counted from the oldest unacknowledged one); beyond
   * it `push` rejects with `PortalQueueFullError`. Default 10000.
   */
  maxPending?: number
  /** Events one portal handles at once. Default 64. */
  concurrency?: number
  /** How often (ms) each portal claims timed-out events and trims handled ones. Default 1000. */
  claimIntervalMs?: number
  /** How long (ms) one blocking read waits for new events before reading again. Default 2000. */
  blockMs?: number
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigError(`portal.${name} must be a positive integer, got ${String(value)}`)
  }
  return value
}

/**
 * Portal queue on a Redis stream with one consumer group. Portals without `reportAllEvents` read it with
 * XREADGROUP (each event goes to one of them), acknowledge with XACK once their handler resolves, and
 * XAUTOCLAIM events left unacknowledged for `claimTimeoutMs` by a portal that crashed or hung. A rejected
 * event is marked claimable at once, so the next claim (within `claimIntervalMs`, by any portal) retries it.
 * `reportAllEvents` portals read the stream with their own cursor (XREAD) and observe every event pushed
 * while they consume, best effort; they take no share of the handling.
 */
export class RedisPortalQueue implements PortalQueue {
  private readonly settings: PortalWorkerSettings
  private readonly consumers = new Set<PortalWorker | PortalObserver>()

  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeys,
    private readonly onError: (error: Error) => void,
    options: RedisPortalQueueOptions = {},
  ) {
    const claimTimeoutMs = positiveInteger('claimTimeoutMs', options.claimTimeoutMs ?? 30_000)
    const blockMs = positiveInteger('blockMs', options.blockMs ?? 2000)
    this.settings = {
      claimTimeoutMs,
      maxPending: positiveInteger('maxPending', options.maxPending ?? 10_000),
      concurrency: positiveInteger('concurrency', options.concurrency ?? 64),
      claimIntervalMs: positiveInteger('claimIntervalMs', options.claimIntervalMs ?? 1000),
      blockMs,
      staleConsumerMs: Math.max(claimTimeoutMs * 2, blockMs * 10),
    }
  }

  async push(event: PortalEvent): Promise<void> {
    const unavailable = this.connections.unavailable()
    if (unavailable) throw new AdapterError(`Redis portal queue: push failed: ${unavailable}`)
    let added: unknown
    try {
      added = await PUSH.run(
        this.connections.command,
        [this.keys.portalEvents],
        [GROUP, this.settings.maxPending, JSON.stringify(event)],
      )
    } catch (error) {
      throw new AdapterError(`Redis portal queue: push failed: ${errorMessage(error)}`, { cause: error })
    }
    if (added === 0) throw new PortalQueueFullError(this.settings.maxPending)
  }

  async consume(options: PortalConsumerOptions, handler: PortalHandler): Promise<PortalConsumer> {
    const { consumerId } = options
    if (typeof consumerId !== 'string' || consumerId.length === 0) {
      throw new ConfigError('consumerId must be a non-empty string')
    }
    const key = this.keys.portalEvents
    const consumer = options.reportAllEvents
      ? await PortalObserver.start(this.connections, key, handler, this.settings.blockMs, this.onError)
      : await PortalWorker.start(this.connections, key, consumerId, handler, this.settings, this.onError)
    this.consumers.add(consumer)
    return {
      close: async () => {
        this.consumers.delete(consumer)
        await consumer.close()
      },
    }
  }

  /** Stops every consumer of this adapter. */
  async close(): Promise<void> {
    const consumers = [...this.consumers]
    this.consumers.clear()
    await Promise.all(consumers.map((consumer) => consumer.close()))
  }
}
