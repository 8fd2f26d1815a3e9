import { Backoff, type BackoffOptions } from '../backoff.js'
import { now } from './clock.js'

/** Schedules reconnect attempts with exponential backoff and full jitter; one timer at most. */
export class ReconnectScheduler {
  #backoff: Backoff
  #timer: ReturnType<typeof setTimeout> | undefined
  readonly #options: BackoffOptions
  readonly #attempt: () => void

  constructor(options: BackoffOptions, attempt: () => void) {
    this.#options = options
    this.#attempt = attempt
    this.#backoff = new Backoff(options)
  }

  /**
   * Uses the server's announced reconnect interval as the base delay. Called while connected (on the hello):
   * the attempt count carries over and the connection counts as open from now.
   */
  setBase(base: number): void {
    const attempts = this.#backoff.attempts
    if (base === this.#backoff.base) return
    this.#backoff = new Backoff({ ...this.#options, base })
    for (let i = 0; i < attempts; i++) this.#backoff.next()
    this.opened()
  }

  opened(): void {
    this.#backoff.opened(now())
  }

  /**
   * Records the close (a connection that stayed up long enough resets the backoff) and schedules the next
   * attempt; returns its delay in ms.
   */
  schedule(): number {
    this.cancel()
    this.#backoff.closed(now())
    const delay = this.#backoff.next()
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#attempt()
    }, delay)
    return delay
  }

  cancel(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  reset(): void {
    this.cancel()
    this.#backoff.reset()
  }
}
