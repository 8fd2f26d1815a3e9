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
 * A typed emitter whose listeners may be async. `collect(run)` returns the promises the listeners returned
 * during `run` (an emit), so the caller can wait for them: a portal acknowledges an event only once its async
 * listeners settled. Outside `collect`, a listener's rejection is reported through `onRejected` instead of
 * becoming an unhandled rejection that would end the process.
 */
export class CollectingEmitter<E extends EventMap<E>> extends TypedEmitter<E> {
  private collecting: PromiseLike<unknown>[] | undefined
  /** Original listener -> event -> the wrappers registered for it (a listener may be added twice). */
  private readonly wrappers = new WeakMap<Function, Map<keyof E, Listener<never>[]>>()

  constructor(private readonly onRejected: (event: keyof E, error: unknown) => void) {
    super()
  }

  override on<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const wrapper: Listener<E[K]> = (...args) => {
      const result: unknown = listener(...args)
      if (!isThenable(result)) return
      if (this.collecting) this.collecting.push(result)
      else result.then(undefined, (error: unknown) => this.onRejected(event, error))
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

  /** Runs `emitting` (synchronous emits) and returns the promises the listeners returned meanwhile. */
  protected collect<T>(emitting: () => T): { result: T; pending: PromiseLike<unknown>[] } {
    const pending: PromiseLike<unknown>[] = []
    const outer = this.collecting
    this.collecting = pending
    try {
      return { result: emitting(), pending }
    } finally {
      this.collecting = outer
    }
  }
}
