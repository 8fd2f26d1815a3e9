import { type EventMap, TypedEmitter } from '@mesa/core'

type Listener<A extends unknown[]> = (...args: A) => void

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}

/**
 * A typed emitter whose listeners may be async and return values. `collect(run)` returns what the listeners
 * returned during `run` (an emit), in order, so the caller can wait for their promises (a portal acknowledges an
 * event only once its async listeners settled) and read their results (a request's reply). Outside `collect`, a
 * listener's rejection is reported through `onRejected` instead of becoming an unhandled rejection that would
 * end the process.
 */
export class CollectingEmitter<E extends EventMap<E>> extends TypedEmitter<E> {
  private collecting: unknown[] | undefined
  /** Original listener -> event -> the wrappers registered for it (a listener may be added twice). */
  private readonly wrappers = new WeakMap<Function, Map<keyof E, Listener<never>[]>>()

  constructor(private readonly onRejected: (event: keyof E, error: unknown) => void) {
    super()
  }

  override on<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const wrapper: Listener<E[K]> = (...args) => {
      const result: unknown = listener(...args)
      if (this.collecting) this.collecting.push(result)
      else if (isThenable(result)) result.then(undefined, (error: unknown) => this.onRejected(event, error))
    }
    let byEvent = this.wrappers.get(listener)
    if (!byEvent) {
      byEvent = new Map()
      this.wrappers.set(listener, byEvent)
    }
    const list = byEvent.get(event)
    if (list) list.push(wrapper as Listener<never>)
    else byEvent.set(event, [wrapper as Listener<never>])
    return super.on(event, wrapper)
  }

  /** Like `TypedEmitter.once`, but passes the listener's promise on, so an async once-listener is awaited too. */
  override once<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const wrapper: Listener<E[K]> = (...args) => {
      this.off(event, wrapper)
      return listener(...args)
    }
    return this.on(event, wrapper)
  }

  override off<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const wrapper = this.wrappers.get(listener)?.get(event)?.pop()
    return super.off(event, (wrapper as Listener<E[K]> | undefined) ?? listener)
  }

  /** Runs `emitting` (synchronous emits) and returns what the listeners returned meanwhile (values or promises). */
  protected collect<T>(emitting: () => T): { result: T; returned: unknown[] } {
    const returned: unknown[] = []
    const outer = this.collecting
    this.collecting = returned
    try {
      return { result: emitting(), returned }
    } finally {
      this.collecting = outer
    }
  }
}
