import { ConfigError } from './errors.js'

export interface BackoffOptions {
  /** First delay ceiling in ms. Default 1000. */
  base?: number
  /** Growth of the ceiling per failed attempt. Default 2. */
  factor?: number
  /** Largest delay ceiling in ms. Default 30000. */
  max?: number
  /** A connection that stayed open this long (ms) resets the attempt count. Default 5000. */
  resetAfter?: number
  /** Source of randomness in [0, 1); injectable for tests. Default `Math.random`. */
  random?: () => number
}

/**
 * Exponential backoff with full jitter: the n-th delay is uniform in [0, min(max, base * factor^n)].
 * Full jitter spreads the clients of a restarted server over the whole window instead of bringing them
 * back in synchronized waves (Mesa 1.x's fixed interval did the latter).
 */
export class Backoff {
  readonly base: number
  readonly factor: number
  readonly max: number
  readonly resetAfter: number
  private readonly random: () => number
  private attempt = 0
  private openedAt: number | undefined

  constructor(options: BackoffOptions = {}) {
    this.base = positive('base', options.base ?? 1000)
    this.factor = positive('factor', options.factor ?? 2)
    this.max = positive('max', options.max ?? 30_000)
    this.resetAfter = positive('resetAfter', options.resetAfter ?? 5000, true)
    this.random = options.random ?? Math.random
    if (this.factor < 1) throw new ConfigError(`backoff factor must be >= 1, got ${this.factor}`)
  }

  /** Attempts made since the last reset. */
  get attempts(): number {
    return this.attempt
  }

  /** The delay before the next attempt, in ms; counts the attempt. */
  next(): number {
    const ceiling = Math.min(this.max, this.base * this.factor ** this.attempt)
    this.attempt++
    return Math.floor(this.random() * ceiling)
  }

  /** Record that a connection opened at `now` (ms). */
  opened(now: number): void {
    this.openedAt = now
  }

  /** Record that the connection closed at `now` (ms); a stable connection resets the count. */
  closed(now: number): void {
    if (this.openedAt !== undefined && now - this.openedAt >= this.resetAfter) this.attempt = 0
    this.openedAt = undefined
  }

  reset(): void {
    this.attempt = 0
    this.openedAt = undefined
  }
}

function positive(name: string, value: number, allowZero = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new ConfigError(`backoff ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${String(value)}`)
  }
  return value
}
