import type { EventMap, TypedEmitter } from '@mesa/core'

/** What `waitFor` keeps polling on: the check has not found what it waits for yet. */
type NotYet = false | undefined | null

/**
 * Polls `check` every `intervalMs` until it returns something other than `false`, `undefined` or `null`, and
 * resolves with that: `waitFor('op 22', () => frames.find(isAck))` gives the frame. Rejects naming `what`
 * after `timeoutMs`. `intervalMs` 0 polls on `setImmediate`, for tests that fake the timer functions.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
  intervalMs = 10,
): Promise<Exclude<T, NotYet>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== false && value !== undefined && value !== null) return value as Exclude<T, NotYet>
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await (intervalMs === 0 ? new Promise((resolve) => setImmediate(resolve)) : delay(intervalMs))
  }
}

/** Resolves after `ms`: lets pending I/O run, for asserting that something did NOT happen. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Rejects naming `what` when `promise` has not settled within `timeoutMs`. */
export async function withTimeout<T>(what: string, promise: Promise<T>, timeoutMs = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Resolves with what `promise` rejects with; fails naming `what` when it resolves instead, or is still pending
 * after `timeoutMs` (a call that waits where it should fail fast).
 */
export async function rejectionOf<E = unknown>(what: string, promise: Promise<unknown>, timeoutMs = 10_000): Promise<E> {
  const outcome = await withTimeout(
    what,
    promise.then(
      () => ({ rejected: false as const }),
      (error: unknown) => ({ rejected: true as const, error }),
    ),
    timeoutMs,
  )
  if (!outcome.rejected) throw new Error(`${what} resolved, where it should have rejected`)
  return outcome.error as E
}

/** Resolves with the arguments of the next `event` of a Mesa emitter; rejects after `timeoutMs`. */
export function nextEvent<E extends EventMap<E>, K extends keyof E & string>(
  emitter: TypedEmitter<E>,
  event: K,
  timeoutMs = 10_000,
): Promise<E[K]> {
  return withTimeout(
    `event ${event}`,
    new Promise<E[K]>((resolve) => emitter.once(event, (...args: E[K]) => resolve(args))),
    timeoutMs,
  )
}
