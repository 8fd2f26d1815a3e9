/** A deadline in a `DeadlineQueue`: `cancel()` it once what it guards settled. */
export interface Deadline {
  cancel(): void
}

interface Entry extends Deadline {
  at: number
  fire: () => void
  /** Its place in the heap; -1 once it fired or was cancelled. */
  index: number
}

/** Longest delay Node's timers take; a later deadline is re-armed when this one passes. */
const MAX_DELAY = 2 ** 31 - 1

/**
 * One timer for every deadline of a server (request timeouts, waits for portals, authentication expiries):
 * deadlines sit in a binary min-heap by time, and the single timer is armed for the earliest. Adding and
 * cancelling cost O(log n); nothing is scanned on a tick but the deadlines that are due. The timer is unref'd:
 * deadlines never keep a process alive.
 */
export class DeadlineQueue {
  private readonly heap: Entry[] = []
  private timer: ReturnType<typeof setTimeout> | undefined
  /** When the armed timer fires (ms since the epoch). */
  private armedAt = Number.POSITIVE_INFINITY

  constructor(
    /** Where a deadline's callback that threw is reported; the other due deadlines still fire. */
    private readonly report: (error: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Calls `fire` once `at` (ms since the epoch) has passed, unless the deadline is cancelled first. */
  add(at: number, fire: () => void): Deadline {
    const entry: Entry = { at, fire, index: this.heap.length, cancel: () => this.remove(entry) }
    this.heap.push(entry)
    this.up(entry.index)
    if (at < this.armedAt) this.arm()
    return entry
  }

  /** Deadlines waiting. */
  get size(): number {
    return this.heap.length
  }

  /** Forgets every deadline and stops the timer (the server closed). */
  clear(): void {
    for (const entry of this.heap) entry.index = -1
    this.heap.length = 0
    this.disarm()
  }

  private remove(entry: Entry): void {
    const index = entry.index
    if (index < 0) return
    entry.index = -1
    const last = this.heap.pop()!
    if (last !== entry) {
      this.heap[index] = last
      last.index = index
      this.down(index)
      this.up(last.index)
    }
    // The timer stays armed for a cancelled earliest deadline: it then fires for nothing and re-arms once.
    if (this.heap.length === 0) this.disarm()
  }

  private tick(): void {
    this.timer = undefined
    this.armedAt = Number.POSITIVE_INFINITY
    const now = this.now()
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const entry = this.heap[0]!
      this.remove(entry)
      try {
        entry.fire()
      } catch (error) {
        this.report(error)
      }
    }
    if (this.heap.length > 0) this.arm()
  }

  private arm(): void {
    this.disarm()
    const at = this.heap[0]!.at
    this.armedAt = at
    this.timer = setTimeout(() => this.tick(), Math.min(MAX_DELAY, Math.max(0, at - this.now())))
    this.timer.unref?.()
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.armedAt = Number.POSITIVE_INFINITY
  }

  private up(index: number): void {
    const heap = this.heap
    const entry = heap[index]!
    while (index > 0) {
      const parentIndex = (index - 1) >> 1
      const parent = heap[parentIndex]!
      if (parent.at <= entry.at) break
      heap[index] = parent
      parent.index = index
      index = parentIndex
    }
    heap[index] = entry
    entry.index = index
  }

  private down(index: number): void {
    const heap = this.heap
    const entry = heap[index]!
    for (;;) {
      let child = 2 * index + 1
      if (child >= heap.length) break
      if (child + 1 < heap.length && heap[child + 1]!.at < heap[child]!.at) child++
      const smaller = heap[child]!
      if (smaller.at >= entry.at) break
      heap[index] = smaller
      smaller.index = index
      index = child
    }
    heap[index] = entry
    entry.index = index
  }
}
