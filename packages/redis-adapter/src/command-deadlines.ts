/** A command waiting for Redis, in the order the commands were sent. */
export interface Waiting {
  /** When it times out (`performance.now()` ms). */
  readonly due: number
  readonly reject: (error: Error) => void
  /** Counts as a stall of the command connection when it times out. */
  readonly tracked: boolean
  /** Answered, or timed out: nothing more to do when it comes up. */
  done: boolean
  next: Waiting | undefined
}

/**
 * The deadlines of commands that all wait the same time (`commandTimeoutMs`): they fall due in the order they were
 * sent, so they sit in a FIFO list with one timer armed for the oldest, rather than a timer each (setting and
 * clearing a timer per command cost about as much as the rest of a command's bookkeeping, and a busy server sends
 * thousands a second). An answered command leaves the list once it is the oldest, which on one connection is at
 * once: Redis answers in order. The timer is unref'd and stopped when the list is empty.
 */
export class CommandDeadlines {
  private head: Waiting | undefined
  private tail: Waiting | undefined
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly timeoutMs: number,
    /** A command went unanswered for `timeoutMs`: it is `done` already. */
    private readonly expired: (waiting: Waiting) => void,
  ) {}

  add(reject: (error: Error) => void, tracked: boolean): Waiting {
    const waiting: Waiting = { due: performance.now() + this.timeoutMs, reject, tracked, done: false, next: undefined }
    if (this.tail === undefined) this.head = waiting
    else this.tail.next = waiting
    this.tail = waiting
    if (this.timer === undefined) this.arm(this.timeoutMs)
    return waiting
  }

  /** The command was answered (or failed): it will not time out. */
  settle(waiting: Waiting): void {
    waiting.done = true
    if (waiting === this.head) this.dropDone()
  }

  private dropDone(): void {
    let head = this.head
    while (head?.done) head = head.next
    this.head = head
    if (head !== undefined) return
    this.tail = undefined
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private readonly tick = (): void => {
    this.timer = undefined
    const now = performance.now()
    for (let waiting = this.head; waiting !== undefined && waiting.due <= now; waiting = waiting.next) {
      if (waiting.done) continue
      waiting.done = true
      this.expired(waiting)
    }
    this.dropDone()
    if (this.head !== undefined) this.arm(this.head.due - now)
  }

  private arm(delay: number): void {
    this.timer = setTimeout(this.tick, Math.max(0, delay))
    // The commands' connection keeps the process alive while they wait; this timer need not.
    this.timer.unref()
  }
}
