import type { RedisConnections } from './connection.js'
import { adapterError } from './errors.js'
import type { MembershipStore } from './portal-membership.js'

/**
 * The portals of this adapter that consume, registered as members of the namespace's queue. One timer,
 * running while there is any, refreshes them all every third of `ttlMs` (each registration lives two thirds
 * of it), so a portal process that dies without closing is removed at most `ttlMs` later, by whichever
 * process sweeps first. A refresh also registers again a portal whose registration Redis lost.
 */
export class PortalMembers {
  /** Portal id -> consumers of this adapter under it: the id leaves when the last one closes. */
  private readonly local = new Map<string, number>()
  private readonly aliveMs: number
  private readonly intervalMs: number
  private timer: ReturnType<typeof setInterval> | undefined
  private beating = false
  /** Set after a failure was reported, cleared by the next success: one error event per outage. */
  private failing = false

  constructor(
    private readonly store: MembershipStore,
    private readonly connections: RedisConnections,
    ttlMs: number,
    private readonly onError: (error: Error) => void,
  ) {
    this.aliveMs = Math.max(1, Math.ceil((ttlMs * 2) / 3))
    this.intervalMs = Math.max(1, Math.floor(ttlMs / 3))
  }

  /** Registers a consumer under `portalId`; rejects (registering nothing) when Redis does not take it. */
  async add(portalId: string): Promise<void> {
    const count = this.local.get(portalId) ?? 0
    this.local.set(portalId, count + 1)
    if (count > 0) return
    try {
      await this.store.register([portalId], this.aliveMs)
    } catch (error) {
      this.drop(portalId)
      throw adapterError(`Redis portal queue: cannot register portal "${portalId}"`, error)
    }
    if (this.local.has(portalId)) this.startTimer()
  }

  /**
   * Unregisters a consumer; the id leaves once none remains. While Redis is unreachable this does not wait for
   * it: the registration lapses after the TTL and a sweep announces the leave then.
   */
  async remove(portalId: string): Promise<void> {
    if (!this.drop(portalId)) return
    if (this.connections.unavailable()) return
    await this.store
      .unregister(portalId)
      .catch((error: unknown) =>
        this.onError(adapterError(`Redis portal queue: cannot unregister portal "${portalId}"`, error)),
      )
  }

  /** Stops the timer; registrations still held lapse after the TTL. */
  close(): void {
    this.local.clear()
    this.stopTimer()
  }

  /** Counts one consumer of `portalId` out; true when it was the last. */
  private drop(portalId: string): boolean {
    const count = this.local.get(portalId)
    if (count === undefined) return false
    if (count > 1) {
      this.local.set(portalId, count - 1)
      return false
    }
    this.local.delete(portalId)
    if (this.local.size === 0) this.stopTimer()
    return true
  }

  private startTimer(): void {
    if (this.timer !== undefined) return
    this.timer = setInterval(() => this.beat(), this.intervalMs)
    this.timer.unref()
  }

  private stopTimer(): void {
    if (this.timer === undefined) return
    clearInterval(this.timer)
    this.timer = undefined
  }

  private beat(): void {
    if (this.beating || this.local.size === 0 || this.connections.unavailable()) return
    this.beating = true
    this.store
      .register([...this.local.keys()], this.aliveMs)
      .then(
        () => {
          this.failing = false
        },
        (error: unknown) => {
          if (this.failing || this.timer === undefined) return
          this.failing = true
          this.onError(adapterError('Redis portal queue: membership refresh failed', error))
        },
      )
      .finally(() => {
        this.beating = false
      })
  }
}
