import { AdapterError } from '@mesa/core'
import type { Adapter, Envelope } from '@mesa/core/server'
import { toError } from './errors.js'
import { type MesaStats, timed } from './stats.js'

/** `error` as an `AdapterError`: itself, or one saying what failed (`what`), with it as the cause. */
export function adapterFailure(error: unknown, what: string): AdapterError {
  return error instanceof AdapterError ? error : new AdapterError(`${what}: ${toError(error).message}`, { cause: error })
}

/** Publishes an envelope (timed in `stats`); rejects with `AdapterError` saying `what` failed. */
export async function publishTimed(adapter: Adapter, stats: MesaStats, envelope: Envelope, what: string): Promise<void> {
  try {
    await timed(stats, () => adapter.publish(envelope))
  } catch (error) {
    throw adapterFailure(error, `${what} failed`)
  }
}

/**
 * The server's adapter: the one given, or one it created (the `redis` shorthand loads asynchronously). The one
 * owner of "is it there yet": every module asks the handle instead of holding its own promise.
 */
export class AdapterHandle {
  /** The adapter once it is there. */
  current: Adapter | undefined
  /** Resolves with the adapter; rejects when it could not be created. */
  readonly ready: Promise<Adapter>

  constructor(
    adapter: Adapter | Promise<Adapter>,
    /** Created by the server, which must then close it. */
    readonly owned: boolean,
  ) {
    if (adapter instanceof Promise) {
      this.ready = adapter.then((resolved) => {
        this.current = resolved
        return resolved
      })
    } else {
      this.current = adapter
      this.ready = Promise.resolve(adapter)
    }
  }

  /** The adapter now, or the promise of it: callers on the hot path skip a microtask when it is there. */
  get(): Adapter | Promise<Adapter> {
    return this.current ?? this.ready
  }

  /** Runs `task` once the adapter is there, in call order; a failure goes to `report`, never unhandled. */
  run(task: (adapter: Adapter) => Promise<unknown>, report: (error: Error) => void): void {
    this.ready.then(task).catch((error: unknown) => report(toError(error)))
  }
}
