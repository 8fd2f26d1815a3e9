import type { RateLimitOptions } from './options.js'

/** ms between two `rate-limited` reports of one socket with `action: 'drop'`. */
const REPORT_INTERVAL_MS = 1000

/**
 * A token bucket refilled from the time elapsed when it is asked (no timer): up to `burst` tokens, `perSecond`
 * more each second. Asking allocates nothing.
 */
export class TokenBucket {
  private tokens: number
  private refilledAt: number

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst
    this.refilledAt = now
  }

  /** The tokens held at time `now` (ms, monotonic). */
  available(now: number): number {
    const elapsed = now - this.refilledAt
    if (elapsed > 0) {
      this.refilledAt = now
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.perSecond) / 1000)
    }
    return this.tokens
  }

  /** Takes `count` tokens; call after `available` said there are enough. */
  take(count: number): void {
    this.tokens -= count
  }

  /** Takes one token at time `now` when there is one. */
  takeOne(now: number): boolean {
    if (this.available(now) < 1) return false
    this.tokens -= 1
    return true
  }
}

/**
 * One socket's rate limit: two token buckets, messages and bytes. A frame passes when both hold enough for it
 * (one message, its bytes); a refused frame takes nothing, so a socket that slows down passes again.
 */
export class RateBucket {
  private readonly messages: TokenBucket
  private readonly bytes: TokenBucket
  /** When a drop of this socket was last reported; -Infinity: never. */
  private reportedAt = Number.NEGATIVE_INFINITY

  constructor(limits: Required<RateLimitOptions>, now: number) {
    this.messages = new TokenBucket(limits.messagesPerSecond, limits.messageBurst, now)
    this.bytes = new TokenBucket(limits.bytesPerSecond, limits.byteBurst, now)
  }

  /** Takes one frame of `bytes` at time `now` (ms, monotonic): false when it is over the limit. */
  take(bytes: number, now: number): boolean {
    if (this.messages.available(now) < 1 || this.bytes.available(now) < bytes) return false
    this.messages.take(1)
    this.bytes.take(bytes)
    return true
  }

  /** Whether a drop at `now` is to be reported: at most one report a second per socket. */
  shouldReport(now: number): boolean {
    if (now - this.reportedAt < REPORT_INTERVAL_MS) return false
    this.reportedAt = now
    return true
  }
}

/** Why a socket was limited, for the close reason and the error. */
export function rateLimitReason(limits: Required<RateLimitOptions>): string {
  return `rate limit exceeded (${limits.messagesPerSecond} messages and ${limits.bytesPerSecond} bytes per second)`
}
