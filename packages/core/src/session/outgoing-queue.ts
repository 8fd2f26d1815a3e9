import { QueueFullError } from '../errors.js'

/** Messages sent while they cannot go out yet, bounded so that a long outage cannot exhaust memory. */
export class OutgoingQueue<T> {
  readonly #items: T[] = []
  readonly #limit: number

  constructor(limit: number) {
    this.#limit = limit
  }

  get size(): number {
    return this.#items.length
  }

  /** @throws QueueFullError when `limit` messages are already waiting. */
  push(item: T): void {
    if (this.#items.length >= this.#limit) throw new QueueFullError(this.#limit)
    this.#items.push(item)
  }

  /** Empties the queue, returning what it held in the order it was queued. */
  drain(): T[] {
    return this.#items.splice(0)
  }
}
