import { AdapterError, type PortalEvent, type PortalHandler } from '@mesa/core'
import type { RedisClient, RedisConnections } from './connection.js'
import { debugPortalQueue } from './debug.js'
import { adapterError, errorMessage } from './errors.js'
import type { LuaScript } from './lua-script.js'
import {
  CLAIM_TIMED_OUT,
  delay,
  ENSURE_GROUP,
  GIVE_BACK,
  GROUP,
  PRUNE_CONSUMERS,
  parseEvent,
  type QueueKeys,
  type RawEntry,
  type ReadReply,
  TRIM_HANDLED,
} from './portal-scripts.js'

export interface PortalWorkerSettings {
  claimTimeoutMs: number
  maxPending: number
  maxPendingBytes: number
  concurrency: number
  claimIntervalMs: number
  blockMs: number
  /** A consumer idle this long with nothing pending is a portal that is gone. */
  staleConsumerMs: number
}

/**
 * One handling portal: a blocking XREADGROUP loop on its own connection, and a timer that claims events left
 * unacknowledged past the claim timeout (by portals that died or hang, never those its own handlers still run),
 * trims handled events and prunes the consumers of portals that are gone.
 *
 * The blocking read has no `commandTimeoutMs`: while Redis hangs it waits, and its answer, whenever it comes,
 * is handled. A read given up on would still take events into this portal's pending list when Redis runs it,
 * where nobody would handle them before the claim timeout. Acknowledgements are not bounded either (nobody
 * waits for them): one sent while Redis hangs is carried out when it answers.
 */
export class PortalWorker {
  /** Entry id -> when this portal took it; an entry past its claim timeout no longer holds a slot. */
  private readonly inFlight = new Map<string, number>()
  /**
   * Entries whose handler has not settled, also past their claim timeout: this portal never claims them back
   * (another portal takes them over), and gives them up when it closes.
   */
  private readonly running = new Set<string>()
  private readonly command: RedisClient
  /** The event stream. */
  private readonly key: string
  private readonly reader: RedisClient
  private readonly claimTimer: ReturnType<typeof setInterval>
  private readonly loop: Promise<void>
  private claiming = false
  private closed = false
  /** Set after a failure was reported, cleared by the next success: one error event per outage. */
  private failing = false
  private wake: (() => void) | undefined

  private constructor(
    private readonly connections: RedisConnections,
    private readonly keys: QueueKeys,
    private readonly consumerId: string,
    private readonly handler: PortalHandler,
    private readonly settings: PortalWorkerSettings,
    private readonly onError: (error: Error) => void,
  ) {
    this.command = connections.command
    this.key = keys[0]
    this.reader = connections.duplicate('blocking')
    // Failures surface through the commands of the read loop; this only keeps ioredis from logging them.
    this.reader.on('error', () => {})
    this.claimTimer = setInterval(() => this.claimTick(), settings.claimIntervalMs)
    this.claimTimer.unref()
    this.loop = this.readLoop()
    debugPortalQueue('portal %s consuming', consumerId)
  }

  static async start(
    connections: RedisConnections,
    keys: QueueKeys,
    consumerId: string,
    handler: PortalHandler,
    settings: PortalWorkerSettings,
    onError: (error: Error) => void,
  ): Promise<PortalWorker> {
    try {
      await connections.call((client) => ENSURE_GROUP.run(client, keys, [GROUP]))
    } catch (error) {
      throw adapterError('Redis portal queue: cannot create the consumer group', error)
    }
    return new PortalWorker(connections, keys, consumerId, handler, settings, onError)
  }

  /** Stops reading and hands unfinished events to the other portals at once rather than after the claim timeout. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.claimTimer)
    this.wake?.()
    // While Redis is down, ioredis keeps the blocking read queued and disconnect() never rejects it, so the loop
    // would never return; a reader that is up rejects its read at once and the loop ends.
    const readStuck = this.reader.status !== 'ready'
    this.connections.release(this.reader)
    if (!readStuck) await this.loop
    const unfinished = [...this.running]
    this.inFlight.clear()
    this.running.clear()
    if (unfinished.length === 0) {
      await this.script(PRUNE_CONSUMERS, [GROUP, 0, this.consumerId]).catch(() => {})
      return
    }
    await this.connections
      .call((client) => this.giveBack(client, unfinished))
      .catch((error: unknown) => this.onError(adapterError('Redis portal queue: could not release events', error)))
  }

  private report(what: string, error: unknown): void {
    if (this.closed || this.failing) return
    this.failing = true
    this.onError(adapterError(`Redis portal queue (${this.consumerId}): ${what}`, error))
  }

  private freeSlots(): number {
    const expired = Date.now() - this.settings.claimTimeoutMs
    for (const [id, takenAt] of this.inFlight) if (takenAt <= expired) this.inFlight.delete(id)
    return this.settings.concurrency - this.inFlight.size
  }

  private handle(id: string, fields: string[]): void {
    const event = parseEvent(fields)
    if (!event) {
      // Retrying cannot repair it: acknowledge so it does not circulate forever.
      this.onError(new AdapterError(`Redis portal queue: dropped malformed event ${id}`))
      this.ack(id)
      return
    }
    this.inFlight.set(id, Date.now())
    this.running.add(id)
    this.run(event).then(
      () => {
        this.finish(id)
        this.ack(id)
      },
      () => {
        this.finish(id)
        debugPortalQueue('portal %s: event %s failed, left for a retry', this.consumerId, id)
        // Looking idle for the whole claim timeout makes it the next claim's (by any portal) to retry.
        this.giveBack(this.command, [id]).catch((error: unknown) => this.report('XCLAIM failed', error))
      },
    )
  }

  /** The handler's outcome as a promise, whether it throws, rejects or returns. */
  private async run(event: PortalEvent): Promise<void> {
    await this.handler(event)
  }

  private ack(id: string): void {
    this.command.xack(this.key, GROUP, id).catch((error: unknown) => this.report('XACK failed', error))
  }

  /**
   * Makes the events claimable at once, those this portal still owns: one another portal took over while this
   * portal's handler hung stays with it.
   */
  private giveBack(client: RedisClient, ids: readonly string[]): Promise<unknown> {
    return GIVE_BACK.run(client, this.keys, [GROUP, this.consumerId, this.settings.claimTimeoutMs, ...ids])
  }

  private finish(id: string): void {
    this.inFlight.delete(id)
    this.running.delete(id)
    this.wake?.()
  }

  private async readLoop(): Promise<void> {
    while (!this.closed) {
      const free = this.freeSlots()
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve
          setTimeout(resolve, this.settings.claimIntervalMs).unref()
        })
        this.wake = undefined
        continue
      }
      try {
        const reply = (await this.reader.xreadgroup(
          'GROUP',
          GROUP,
          this.consumerId,
          'COUNT',
          free,
          'BLOCK',
          this.settings.blockMs,
          'STREAMS',
          this.key,
          '>',
        )) as ReadReply
        this.failing = false
        for (const [, entries] of reply ?? []) for (const [id, fields] of entries) this.handle(id, fields)
      } catch (error) {
        if (this.closed) return
        if (errorMessage(error).startsWith('NOGROUP')) {
          // Redis lost the stream (restart without persistence): start over with an empty one.
          await this.script(ENSURE_GROUP, [GROUP]).catch((e: unknown) =>
            this.report('cannot recreate the group', e),
          )
        } else {
          this.report('read failed', error)
          await delay(Math.min(this.settings.claimIntervalMs, 1000))
        }
      }
    }
  }

  private claimTick(): void {
    if (this.claiming || this.closed) return
    this.claiming = true
    this.claim()
      .then(() => {
        this.failing = false
      })
      .catch((error: unknown) => {
        if (!errorMessage(error).startsWith('NOGROUP')) this.report('claim failed', error)
      })
      .finally(() => {
        this.claiming = false
      })
  }

  private async claim(): Promise<void> {
    const free = this.freeSlots()
    if (free > 0) {
      const { claimTimeoutMs } = this.settings
      const claimed = (await this.script(CLAIM_TIMED_OUT, [
        GROUP,
        this.consumerId,
        claimTimeoutMs,
        free,
        ...this.running,
      ])) as (RawEntry | null)[]
      if (claimed.length > 0) debugPortalQueue('portal %s claimed %d events', this.consumerId, claimed.length)
      // Redis before 7.0 answers nil for an entry deleted from the stream.
      for (const entry of claimed) if (entry) this.handle(...entry)
    }
    const { maxPending, maxPendingBytes, staleConsumerMs } = this.settings
    await this.script(TRIM_HANDLED, [GROUP, Math.floor(maxPending / 2), Math.floor(maxPendingBytes / 2)])
    await this.script(PRUNE_CONSUMERS, [GROUP, staleConsumerMs])
  }

  /** Scripts get both keys of the queue (the ones that need only the stream ignore the second). */
  private script(script: LuaScript, args: readonly (string | number)[]): Promise<unknown> {
    return this.connections.call((client) => script.run(client, this.keys, args))
  }
}
