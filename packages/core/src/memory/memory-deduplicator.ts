import type { DeliveryClaim, Deduplicator } from '../adapter/deduplicator.js'

interface Claim {
  done: boolean
  /** ms since the Unix epoch when the claim lapses. */
  until: number
}

/** Below this many claims, lapsed ones are not swept: the sweep would cost more than it frees. */
const SWEEP_MIN = 256

/**
 * Claims for one process. Memory stays bounded without a timer: whenever the map has doubled since the last
 * sweep, lapsed claims are swept in the order they were last changed, up to the first one still running (so a
 * lapsed claim may stay until the claims changed before it lapse too: at most one window later).
 */
export class MemoryDeduplicator implements Deduplicator {
  private readonly claims = new Map<string, Claim>()
  private sweepAt = SWEEP_MIN

  constructor(private readonly now: () => number = Date.now) {}

  async begin(key: string, leaseMs: number): Promise<DeliveryClaim> {
    const now = this.now()
    this.sweep(now)
    const claim = this.claims.get(key)
    if (claim !== undefined && claim.until > now) return claim.done ? 'done' : 'busy'
    this.claims.delete(key)
    this.claims.set(key, { done: false, until: now + leaseMs })
    return 'new'
  }

  async complete(key: string, windowMs: number): Promise<void> {
    this.claims.delete(key)
    this.claims.set(key, { done: true, until: this.now() + windowMs })
  }

  async abandon(key: string): Promise<void> {
    const claim = this.claims.get(key)
    if (claim !== undefined && !claim.done) this.claims.delete(key)
  }

  /** Claims held now (for tests and metrics). */
  get size(): number {
    return this.claims.size
  }

  private sweep(now: number): void {
    if (this.claims.size < this.sweepAt) return
    for (const [key, claim] of this.claims) {
      if (claim.until > now) break
      this.claims.delete(key)
    }
    this.sweepAt = Math.max(SWEEP_MIN, this.claims.size * 2)
  }
}
