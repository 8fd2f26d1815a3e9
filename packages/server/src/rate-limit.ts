import type { RateLimitOptions } from './config.js'

/** ms between two `rate-limited` reports of one socket with `action: 'drop'`. */
const REPORT_INTERVAL_MS = 1000

/**
 * One socket's rate limit: two token buckets, messages and bytes. Each holds up to its burst and refills at
 * its rate per second, computed from the time elapsed when a frame arrives: no timer, and taking a frame
 * allocates nothing. A frame passes when both buckets hold enough for it (one message, its bytes); a refused
 * frame takes nothing, so a socket that slows down passes again.
 */
export class RateBucket {
  private messages: number
  private bytes: number
  private refilledAt: number
  /** When a drop of this socket was last reported; -Infinity: never. */
  private reportedAt = Number.NEGATIVE_INFINITY

  constructor(
    private readonly limits: Required<RateLimitOptions>,
    now: number,
  ) {
    this.messages = limits.messageBurst
    this.bytes = limits.byteBurst
    this.refilledAt = now
  }

  /** Takes one frame of `bytes` at time `now` (ms, monotonic): false when it is over the limit. */
  take(bytes: number, now: number): boolean {
    const { messagesPerSecond, messageBurst, bytesPerSecond, byteBurst } = this.limits
    const elapsed = now - this.refilledAt
    if (elapsed > 0) {
      this.refilledAt = now
      this.messages = Math.min(messageBurst, this.messages + (elapsed * messagesPerSecond) / 1000)
      this.bytes = Math.min(byteBurst, this.bytes + (elapsed * bytesPerSecond) / 1000)
    }
    if (this.messages < 1 || this.bytes < bytes) return false
    this.messages -= 1
    this.bytes -= bytes
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
