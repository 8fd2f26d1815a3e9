import { TypedEmitter } from '@mesa/core'
import { ServerError, toError } from './errors.js'

type Listener = (...args: never[]) => unknown
type EventMap<E> = { [K in keyof E]: unknown[] }

/**
 * An emitter whose listeners are application code: each runs on its own, so one that throws does not keep the
 * next from running, and a listener that returns a promise has its rejection reported instead of becoming an
 * unhandled rejection (which would end the process). Failures go to `listenerFailed` as `ServerError`
 * (`handler-failed`) with the original as `cause`; it must not throw. A method, not a callback given to the
 * constructor: one emitter per socket, and a closure per socket would be on every one's heap.
 */
export abstract class GuardedEmitter<E extends EventMap<E>> extends TypedEmitter<E> {
  /**
   * The guard registered for each listener (and how many times it is registered), so `off(listener)` finds it.
   * Made with the first listener: most sockets' clients never get one, and the map would be on every one's heap.
   */
  #guards: Map<keyof E, Map<Listener, { guard: Listener; count: number }>> | undefined
  /** A listener of `event` threw or rejected: where that is reported. Must not throw. */
  protected abstract listenerFailed(error: Error, event: keyof E): void

  override on<K extends keyof E>(event: K, listener: (...args: E[K]) => unknown): this {
    this.#guards ??= new Map()
    let guards = this.#guards.get(event)
    if (guards === undefined) {
      guards = new Map()
      this.#guards.set(event, guards)
    }
    let entry = guards.get(listener as Listener)
    if (entry === undefined) {
      const guard = (...args: E[K]): void => {
        try {
          const result: unknown = listener(...args)
          if (isThenable(result)) result.then(undefined, (error: unknown) => this.#failed(event, error))
        } catch (error) {
          this.#failed(event, error)
        }
      }
      entry = { guard: guard as Listener, count: 0 }
      guards.set(listener as Listener, entry)
    }
    entry.count++
    return super.on(event, entry.guard as (...args: E[K]) => void)
  }

  /** Like `on`, for one emit; what the listener returns reaches the guard, so its rejection is reported too. */
  override once<K extends keyof E>(event: K, listener: (...args: E[K]) => unknown): this {
    const once = (...args: E[K]): unknown => {
      this.off(event, once)
      return listener(...args)
    }
    return this.on(event, once)
  }

  override off<K extends keyof E>(event: K, listener: (...args: E[K]) => unknown): this {
    const guards = this.#guards?.get(event)
    const entry = guards?.get(listener as Listener)
    if (entry === undefined) return this
    if (--entry.count === 0) guards!.delete(listener as Listener)
    return super.off(event, entry.guard as (...args: E[K]) => void)
  }

  /**
   * Emits like `emit` (each failure reported as usual), and resolves once every listener finished, the promises
   * they returned settled, with the first failure: for what must know that the application handled an event (an
   * acknowledged message). Never rejects.
   */
  emitSettled<K extends keyof E>(event: K, ...args: E[K]): Promise<Failure | undefined> {
    const runs: Promise<Failure | undefined>[] = []
    // A snapshot: listeners added or removed by a listener take effect from the next emit, as with `emit`.
    for (const [listener, { count }] of [...(this.#guards?.get(event) ?? [])]) {
      const run = listener as (...a: E[K]) => unknown
      for (let i = 0; i < count; i++) runs.push(settle(() => run(...args), (error) => this.#failed(event, error)))
    }
    return firstFailure(runs)
  }

  override removeAllListeners(event?: keyof E): this {
    if (event === undefined) this.#guards?.clear()
    else this.#guards?.delete(event)
    return super.removeAllListeners(event)
  }

  #failed(event: keyof E, error: unknown): void {
    this.listenerFailed(
      new ServerError('handler-failed', `a "${String(event)}" listener failed: ${toError(error).message}`, { cause: error }),
      event,
    )
  }
}

/** How application code failed: what it threw, or what its promise rejected with. */
export interface Failure {
  error: unknown
}

/**
 * Runs application code and resolves once it finished (the promise it returned settled): with undefined, or with
 * its failure once `failed` reported it. Never rejects.
 */
export function settle(call: () => unknown, failed: (error: unknown) => void): Promise<Failure | undefined> {
  const fail = (error: unknown): Failure => {
    failed(error)
    return { error }
  }
  try {
    const result = call()
    return isThenable(result) ? Promise.resolve(result).then(() => undefined, fail) : Promise.resolve(undefined)
  } catch (error) {
    return Promise.resolve(fail(error))
  }
}

/** The first failure among runs of application code, once every one finished. */
export async function firstFailure(runs: readonly Promise<Failure | undefined>[]): Promise<Failure | undefined> {
  for (const failure of await Promise.all(runs)) if (failure !== undefined) return failure
  return undefined
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function'
}
