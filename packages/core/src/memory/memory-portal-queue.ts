import type {
  PortalConsumer,
  PortalConsumerOptions,
  PortalEvent,
  PortalHandler,
  PortalMembershipEvent,
  PortalMembershipListener,
  PortalQueue,
} from '../adapter/portal-queue.js'
import { checkPositiveInteger } from '../check-number.js'
import { AdapterError, ConfigError } from '../errors.js'
import { PortalQueueFullError } from './portal-queue-full-error.js'
import { unrefTimer } from './unref-timer.js'
import { utf8Length } from './utf8-length.js'

export interface MemoryPortalQueueOptions {
  /** Time (ms) a handler may run before its event is given to another portal. Default 30000. */
  claimTimeoutMs?: number
  /** Unhandled events (waiting for a portal or being handled); beyond this, `push` rejects with `PortalQueueFullError`. Default 10000. */
  maxPending?: number
  /**
   * Bytes of unhandled events (each counted as the UTF-8 length of its JSON); a `push` that would go beyond it
   * rejects with `PortalQueueFullError`. Default 67108864 (64 MiB).
   */
  maxPendingBytes?: number
  /** Delay (ms) before an event whose handler rejected is offered again, so a failing handler cannot spin. Default 1000. */
  retryDelayMs?: number
}

export const DEFAULT_CLAIM_TIMEOUT_MS = 30_000
export const DEFAULT_MAX_PENDING = 10_000
export const DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024
export const DEFAULT_RETRY_DELAY_MS = 1000

interface Consumer {
  readonly id: string
  readonly handler: PortalHandler
}

interface Watcher {
  readonly listener: PortalMembershipListener
}

/** A pushed event, until a handler finishes it. */
interface Job {
  readonly event: PortalEvent
  /** What it counts against `maxPendingBytes`. */
  readonly size: number
  /**
   * Consumers whose handler of it has not settled, also past the claim timeout: it is never given to them again
   * (a consumer does not take back an event it still handles), so a hung one cannot keep it from the others.
   */
  readonly handlers: Set<Consumer>
  /** The consumer that failed it or let it time out last: another one gets it when there is one. */
  avoid?: Consumer
  /** Its delivery in flight, if it is in flight. */
  delivery?: number
  /** A handler finished it, maybe one that had timed out: what other handlers of it do no longer counts. */
  done: boolean
}

interface Delivery {
  readonly job: Job
  readonly consumer: Consumer
  readonly deadline: number
}

/**
 * Portal queue for one process. Consumers without `reportAllEvents` share the events round robin, each
 * event handled by one of them at least once, and given after `claimTimeoutMs` to one other than those whose
 * handler still runs it (it waits when there is none); consumers with `reportAllEvents` observe every event
 * pushed while they consume (best effort: a rejection is not retried) and take no share of the handling, so with
 * only observers running, events wait for a handling portal. Membership needs no liveness check here: a
 * consumer in this process leaves only by closing.
 */
export class MemoryPortalQueue implements PortalQueue {
  private readonly claimTimeoutMs: number
  private readonly maxPending: number
  private readonly maxPendingBytes: number
  private readonly retryDelayMs: number
  private readonly workers: Consumer[] = []
  private readonly observers: Consumer[] = []
  /** Given back (failed, timed out, or left by a consumer that closed), before the waiting ones. */
  private readonly retries: Job[] = []
  private readonly waiting: Job[] = []
  /** In delivery order, which is also deadline order since every delivery gets the same timeout. */
  private readonly inFlight = new Map<number, Delivery>()
  private readonly retryTimers = new Set<ReturnType<typeof setTimeout>>()
  private readonly watchers = new Set<Watcher>()
  private claimTimer: ReturnType<typeof setTimeout> | undefined
  private bytes = 0
  private nextDeliveryId = 0
  private nextWorker = 0
  private pumpScheduled = false
  private closed = false

  constructor(options: MemoryPortalQueueOptions = {}) {
    this.claimTimeoutMs = checkPositiveInteger('portal.claimTimeoutMs', options.claimTimeoutMs ?? DEFAULT_CLAIM_TIMEOUT_MS)
    this.maxPending = checkPositiveInteger('portal.maxPending', options.maxPending ?? DEFAULT_MAX_PENDING)
    this.maxPendingBytes = checkPositiveInteger(
      'portal.maxPendingBytes',
      options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES,
    )
    this.retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS
    if (!Number.isSafeInteger(this.retryDelayMs) || this.retryDelayMs < 0) {
      throw new ConfigError(`portal.retryDelayMs must be a non-negative integer, got ${String(this.retryDelayMs)}`)
    }
  }

  /** Events waiting for a handling portal (not yet taken, or given back). */
  get pendingCount(): number {
    return this.waiting.length + this.retries.length
  }

  /** Events a portal is handling now. */
  get inFlightCount(): number {
    return this.inFlight.size
  }

  async pending(): Promise<number> {
    return this.pendingCount + this.inFlight.size
  }

  /** Bytes of the events waiting or being handled: what `maxPendingBytes` bounds. */
  get unhandledBytes(): number {
    return this.bytes
  }

  async push(event: PortalEvent): Promise<void> {
    if (this.closed) throw new AdapterError('the portal queue is closed')
    if (this.pendingCount + this.inFlight.size >= this.maxPending) throw new PortalQueueFullError(this.maxPending)
    const size = utf8Length(JSON.stringify(event))
    if (this.bytes + size > this.maxPendingBytes) {
      throw new PortalQueueFullError(this.maxPendingBytes, 'maxPendingBytes')
    }
    for (const observer of this.observers) queueMicrotask(() => this.observe(observer, event))
    this.bytes += size
    this.waiting.push({ event, size, handlers: new Set(), done: false })
    this.schedulePump()
  }

  async consume(options: PortalConsumerOptions, handler: PortalHandler): Promise<PortalConsumer> {
    if (this.closed) throw new AdapterError('the portal queue is closed')
    const { consumerId } = options
    if (typeof consumerId !== 'string' || consumerId.length === 0) {
      throw new ConfigError('consumerId must be a non-empty string')
    }
    if ([...this.workers, ...this.observers].some((c) => c.id === consumerId)) {
      throw new AdapterError(`a portal consumer named "${consumerId}" is already consuming`)
    }
    const consumer: Consumer = { id: consumerId, handler }
    if (options.reportAllEvents) this.observers.push(consumer)
    else {
      this.workers.push(consumer)
      this.schedulePump()
    }
    this.announce({ kind: 'join', portalId: consumerId })
    return { close: async () => this.release(consumer) }
  }

  async watchMembers(listener: PortalMembershipListener): Promise<() => Promise<void>> {
    if (this.closed) throw new AdapterError('the portal queue is closed')
    if (typeof listener !== 'function') throw new ConfigError('watchMembers takes a listener function')
    const watcher: Watcher = { listener }
    // Taken together with the registration: changes after it reach the watcher through announce(), whose
    // microtasks are queued after this function's continuation, so the snapshot is delivered first.
    const current = [...this.workers, ...this.observers].map((consumer) => consumer.id)
    this.watchers.add(watcher)
    await undefined
    for (const portalId of current) this.notify(watcher, { kind: 'join', portalId })
    return async () => {
      this.watchers.delete(watcher)
    }
  }

  /** Stops every consumer and timer and drops waiting events. Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.workers.length = 0
    this.observers.length = 0
    this.waiting.length = 0
    this.retries.length = 0
    this.bytes = 0
    this.inFlight.clear()
    this.watchers.clear()
    if (this.claimTimer !== undefined) clearTimeout(this.claimTimer)
    this.claimTimer = undefined
    for (const timer of this.retryTimers) clearTimeout(timer)
    this.retryTimers.clear()
  }

  private release(consumer: Consumer): void {
    const observerIndex = this.observers.indexOf(consumer)
    if (observerIndex !== -1) {
      this.observers.splice(observerIndex, 1)
      this.announce({ kind: 'leave', portalId: consumer.id })
    }
    const workerIndex = this.workers.indexOf(consumer)
    if (workerIndex === -1) return
    this.announce({ kind: 'leave', portalId: consumer.id })
    this.workers.splice(workerIndex, 1)
    if (this.nextWorker > workerIndex) this.nextWorker--
    for (const [id, delivery] of this.inFlight) if (delivery.consumer === consumer) this.giveBack(id, delivery)
    this.schedulePump()
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.closed) return
    this.pumpScheduled = true
    queueMicrotask(() => {
      this.pumpScheduled = false
      this.pump()
    })
  }

  private pump(): void {
    // A retry that every consumer still handles stays, until one of those handlers settles or a consumer comes.
    const blocked: Job[] = []
    for (let job = this.retries.shift(); job; job = this.retries.shift()) {
      const worker = this.pickWorker(job)
      if (worker) this.deliver(worker, job)
      else blocked.push(job)
    }
    this.retries.push(...blocked)
    while (this.waiting.length > 0) {
      const worker = this.pickWorker(this.waiting[0]!)
      if (!worker) return
      this.deliver(worker, this.waiting.shift()!)
    }
  }

  /** The next consumer round robin that does not handle the job already, other than `job.avoid` if it can. */
  private pickWorker(job: Job): Consumer | undefined {
    const count = this.workers.length
    let avoided: number | undefined
    for (let i = 0; i < count; i++) {
      const index = (this.nextWorker + i) % count
      const worker = this.workers[index]!
      if (job.handlers.has(worker)) continue
      if (worker !== job.avoid) return this.takeWorker(index)
      avoided = index
    }
    return avoided === undefined ? undefined : this.takeWorker(avoided)
  }

  private takeWorker(index: number): Consumer {
    this.nextWorker = (index + 1) % this.workers.length
    return this.workers[index]!
  }

  private deliver(consumer: Consumer, job: Job): void {
    const id = this.nextDeliveryId++
    job.delivery = id
    job.handlers.add(consumer)
    this.inFlight.set(id, { job, consumer, deadline: Date.now() + this.claimTimeoutMs })
    this.armClaimTimer()
    let result: void | Promise<void>
    try {
      result = consumer.handler(job.event)
    } catch {
      this.settle(id, job, consumer, false)
      return
    }
    Promise.resolve(result).then(
      () => this.settle(id, job, consumer, true),
      () => this.settle(id, job, consumer, false),
    )
  }

  private settle(id: number, job: Job, consumer: Consumer, handled: boolean): void {
    job.handlers.delete(consumer)
    if (job.done || this.closed) return
    // Not current: it timed out or its consumer closed, and the event was given back already.
    const current = job.delivery === id
    if (current) {
      this.inFlight.delete(id)
      job.delivery = undefined
    }
    if (handled) {
      job.done = true
      this.bytes -= job.size
      if (!current) this.withdraw(job)
      return
    }
    if (!current) {
      // The event may now go to this consumer too, should it be waiting for one.
      this.schedulePump()
      return
    }
    job.avoid = consumer
    const retry = () => {
      this.retryTimers.delete(timer)
      if (job.done) return
      this.retries.push(job)
      this.schedulePump()
    }
    const timer = setTimeout(retry, this.retryDelayMs)
    unrefTimer(timer)
    this.retryTimers.add(timer)
  }

  private armClaimTimer(): void {
    if (this.claimTimer !== undefined) return
    const first = this.inFlight.values().next()
    if (first.done) return
    this.claimTimer = setTimeout(() => this.reclaim(), Math.max(0, first.value.deadline - Date.now()))
    unrefTimer(this.claimTimer)
  }

  /** An event a handler finished late: it is done wherever it is now, in flight again or waiting for a retry. */
  private withdraw(job: Job): void {
    if (job.delivery !== undefined) {
      this.inFlight.delete(job.delivery)
      job.delivery = undefined
      return
    }
    const index = this.retries.indexOf(job)
    if (index !== -1) this.retries.splice(index, 1)
  }

  private reclaim(): void {
    this.claimTimer = undefined
    const now = Date.now()
    for (const [id, delivery] of this.inFlight) {
      if (delivery.deadline > now) break
      this.giveBack(id, delivery)
    }
    this.armClaimTimer()
    this.schedulePump()
  }

  /** Takes the event from its consumer (timed out, or closing) for another one. */
  private giveBack(id: number, { job, consumer }: Delivery): void {
    this.inFlight.delete(id)
    job.delivery = undefined
    job.avoid = consumer
    this.retries.push(job)
  }

  /**
   * Tells the watchers registered now, in a microtask so that a listener never runs inside `consume()` or
   * `close()`; one registered later has this change in its snapshot already.
   */
  private announce(event: PortalMembershipEvent): void {
    if (this.watchers.size === 0) return
    const targets = [...this.watchers]
    queueMicrotask(() => {
      for (const watcher of targets) this.notify(watcher, event)
    })
  }

  private notify(watcher: Watcher, event: PortalMembershipEvent): void {
    if (!this.watchers.has(watcher)) return
    try {
      watcher.listener(event)
    } catch {
      // The interface asks listeners not to throw; one that does must not stop the others.
    }
  }

  private observe(observer: Consumer, event: PortalEvent): void {
    if (!this.observers.includes(observer)) return
    try {
      Promise.resolve(observer.handler(event)).catch(() => {})
    } catch {
      // Observers are best effort: their failures are theirs to report, not a reason to stop the queue.
    }
  }
}
