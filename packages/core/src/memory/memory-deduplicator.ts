import type { DeliveryClaim, Deduplicator } from '../adapter/deduplicator.js'
import { checkPositiveInteger } from '../check-number.js'

interface Claim {
  done: boolean
  /** ms since the Unix epoch when the claim lapses. */
  until: number
}

/** Below this many claims, lapsed ones are not swept: the sweep would cost more than it frees. */
const SWEEP_MIN = 256

/**
 * Claims held at the most when `MemoryDeduplicatorOptions.maxClaims` is not given: some 125 MB of heap (a claim
 * takes about 250 bytes with a key of about 50 characters; the server's keys are `x.cid`, at most 64 characters,
 * `x.id` and the user id).
 */
export const DEFAULT_MAX_CLAIMS = 500_000

export interface MemoryDeduplicatorOptions {
  /**
   * Claims held at the most. Past it, the done claims changed longest ago are forgotten before their window ends
   * (a retransmission of one of them is handled again); claims being handled are kept (the server bounds them:
   * `acks.maxInFlight` per socket). Default `DEFAULT_MAX_CLAIMS` (500,000).
   */
  maxClaims?: number
}

/**
 * Claims for one process. Memory stays bounded without a timer: whenever the map has doubled since the last
 * sweep, lapsed claims are swept in the order they were last changed, up to the first one still running (so a
 * lapsed claim may stay until the claims changed before it lapse too: at most one window later). Within the
 * window it is bounded by `maxClaims`: a window is time, and a busy server claims more per second than a quiet
 * one, so without a count the map would grow with the send rate (at 10,000 acknowledged sends a second, three
 * million claims in the default 5 minute window).
 */
export class MemoryDeduplicator implements Deduplicator {
  private readonly claims = new Map<string, Claim>()
  private sweepAt = SWEEP_MIN
  private readonly maxClaims: number
  private forgotten = 0

  constructor(
    private readonly now: () => number = Date.now,
    options: MemoryDeduplicatorOptions = {},
  ) {
    this.maxClaims = checkPositiveInteger('dedupe.maxClaims', options.maxClaims ?? DEFAULT_MAX_CLAIMS)
  }

  async begin(key: string, leaseMs: number): Promise<DeliveryClaim> {
    const now = this.now()
    this.sweep(now)
    const claim = this.claims.get(key)
    if (claim !== undefined && claim.until > now) return claim.done ? 'done' : 'busy'
    this.claims.delete(key)
    this.claims.set(key, { done: false, until: now + leaseMs })
    this.bound(now)
    return 'new'
  }

  async complete(key: string, windowMs: number): Promise<void> {
    const now = this.now()
    this.claims.delete(key)
    this.claims.set(key, { done: true, until: now + windowMs })
    this.bound(now)
  }

  async abandon(key: string): Promise<void> {
    const claim = this.claims.get(key)
    if (claim !== undefined && !claim.done) this.claims.delete(key)
  }

  /** Claims held now (for tests and metrics). */
  get size(): number {
    return this.claims.size
  }

  /** Done claims forgotten before their window ended because `maxClaims` was reached. */
  get evicted(): number {
    return this.forgotten
  }

  /**
   * Over `maxClaims`: forgets claims, those changed longest ago first, until it is not: lapsed ones, and done ones
   * before their window ends (counted in `evicted`); a claim being handled stays.
   */
  private bound(now: number): void {
    if (this.claims.size <= this.maxClaims) return
    for (const [key, claim] of this.claims) {
      if (claim.until > now) {
        if (!claim.done) continue
        this.forgotten++
      }
      this.claims.delete(key)
      if (this.claims.size <= this.maxClaims) return
    }
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
