import { now } from './clock.js'

/**
 * Notices a server that stopped talking: no frame for longer than the announced heartbeat interval plus a
 * grace period. Liveness is a timestamp compared when one timer fires, never a count of timer ticks, so
 * timers that a background tab throttles or a sleeping laptop suspends cannot add up to a false alarm.
 */
export class HeartbeatMonitor {
  #last = 0
  #limit = 0
  #due = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  /** The check already gave the event loop one extra round after running late. */
  #deferred = false
  readonly #onSilent: () => void

  constructor(onSilent: () => void) {
    this.#onSilent = onSilent
  }

  /** Starts watching: a frame must come within `interval + grace` ms of the previous one. */
  start(interval: number, grace: number): void {
    this.#limit = interval + grace
    this.alive()
  }

  /** Records that the server just said something. Cheap: no timer is touched. */
  alive(): void {
    this.#last = now()
    this.#deferred = false
    if (this.#limit && !this.#timer) this.#arm(this.#limit)
  }

  stop(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#limit = 0
  }

  #arm(delay: number): void {
    this.#due = now() + delay
    this.#timer = setTimeout(this.#check, delay)
  }

  readonly #check = (): void => {
    this.#timer = undefined
    const t = now()
    const silent = t - this.#last
    if (silent < this.#limit) {
      this.#arm(this.#limit - silent)
    } else if (!this.#deferred && t - this.#due > this.#limit / 4) {
      // A check that runs far behind schedule means this process or tab was frozen: frames that arrived
      // meanwhile may still wait in the event queue behind this timer. Let them in once before deciding.
      this.#deferred = true
      this.#arm(0)
    } else {
      this.stop()
      this.#onSilent()
    }
  }
}
