import { checkNumber } from './check-number.js'

export interface BackoffOptions {
  /** First delay ceiling in ms, at least 1. Default 1000. */
  base?: number
  /** Growth of the ceiling per failed attempt, at least 1. Default 2. */
  factor?: number
  /** Largest delay ceiling in ms, at least 1. Default 30000. */
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
  /** First delay ceiling; a client replaces it with the reconnect interval its server announces. */
  declare base: number
  declare readonly factor: number
  declare readonly max: number
  declare readonly resetAfter: number
  readonly #random: () => number
  #attempt = 0
  #openedAt: number | undefined

  /** @throws ConfigError when an option is not a finite number at or above its least value. */
  constructor({ base, factor, max, resetAfter, random }: BackoffOptions = {}) {
    this.base = checkNumber('backoff.base', base, 1) ?? 1000
    this.factor = checkNumber('backoff.factor', factor, 1) ?? 2
    this.max = checkNumber('backoff.max', max, 1) ?? 30_000
    this.resetAfter = checkNumber('backoff.resetAfter', resetAfter) ?? 5000
    this.#random = random ?? Math.random
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
