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
  // `declare`: assigned in the constructor, so field declarations would only add bytes to browser bundles.
  declare readonly base: number
  declare readonly factor: number
  declare readonly max: number
  declare readonly resetAfter: number
  readonly #random: () => number
  #attempt = 0
  #openedAt: number | undefined

  constructor(options: BackoffOptions = {}) {
    this.base = check('base', options.base ?? 1000, 0)
    this.factor = check('factor', options.factor ?? 2, 1, true)
    this.max = check('max', options.max ?? 30_000, 0)
    this.resetAfter = check('resetAfter', options.resetAfter ?? 5000, 0, true)
    this.#random = options.random ?? Math.random
  }

  /** Attempts made since the last reset. */
  get attempts(): number {
    return this.#attempt
  }

  /** The delay before the next attempt, in ms; counts the attempt. */
  next(): number {
    return Math.floor(this.#random() * Math.min(this.max, this.base * this.factor ** this.#attempt++))
  }

  /** Record that a connection opened at `now` (ms). */
  opened(now: number): void {
    this.#openedAt = now
  }

  /** Record that the connection closed at `now` (ms); a stable connection resets the count. */
  closed(now: number): void {
    // Closed without having opened: `now - undefined` is NaN, which is never >= resetAfter.
    if (now - this.#openedAt! >= this.resetAfter) this.#attempt = 0
    this.#openedAt = undefined
  }

  reset(): void {
    this.#attempt = 0
    this.#openedAt = undefined
  }
}

/** `value` if it is a finite number above `least` (or equal to it, with `orEqual`); else a ConfigError. */
function check(name: string, value: number, least: number, orEqual?: boolean): number {
  if (!(Number.isFinite(value) && (value > least || (orEqual && value === least)))) {
    throw new ConfigError(`backoff ${name} must be a number ${orEqual ? '>=' : '>'} ${least}, got ${String(value)}`)
  }
  return value
}
