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

/** Backoff options checked and completed with their defaults. */
export type BackoffSettings = Required<BackoffOptions>

/**
 * `options` checked, with the defaults filled in. Plain data and two functions rather than only a class: the
 * client session keeps its own attempt count (it also decides when a connection was stable) and pays for no
 * methods it does not call in the browser bundle.
 * @throws ConfigError when an option is not a finite number at or above its least value.
 */
export function backoffSettings({ base, factor, max, resetAfter, random }: BackoffOptions = {}): BackoffSettings {
  return {
    base: checkNumber('backoff.base', base, 1) ?? 1000,
    factor: checkNumber('backoff.factor', factor, 1) ?? 2,
    max: checkNumber('backoff.max', max, 1) ?? 30_000,
    resetAfter: checkNumber('backoff.resetAfter', resetAfter) ?? 5000,
    random: random ?? Math.random,
  }
}

/**
 * The delay in ms before attempt `attempt` (0 for the first): exponential backoff with full jitter, uniform in
 * [0, min(max, base * factor^attempt)]. Full jitter spreads the clients of a restarted server over the whole window
 * instead of bringing them back in synchronized waves (Mesa 1.x's fixed interval did the latter).
 */
export function backoffDelay({ base, factor, max, random }: BackoffSettings, attempt: number): number {
  return Math.floor(random() * Math.min(max, base * factor ** attempt))
}

/** Backoff delays for a retry loop (`backoffDelay` with the attempts counted). */
export class Backoff {
  readonly settings: BackoffSettings
  #attempt = 0

  /** @throws ConfigError when an option is not a finite number at or above its least value. */
  constructor(options?: BackoffOptions) {
    this.settings = backoffSettings(options)
  }

  /** Attempts made since the last reset. */
  get attempts(): number {
    return this.#attempt
  }

  /** The delay before the next attempt, in ms; counts the attempt. */
  next(): number {
    return backoffDelay(this.settings, this.#attempt++)
  }

  reset(): void {
    this.#attempt = 0
  }
}
