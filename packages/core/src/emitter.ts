/**
 * A small typed event emitter that runs in browsers as well as Node. Unlike Node's EventEmitter, emitting
 * `error` with no listener does not throw: a library must not crash its host over a bad frame from a peer.
 */
export type EventMap<E> = { [K in keyof E]: unknown[] }

type Listener<A extends unknown[]> = (...args: A) => void

type Listeners<E extends EventMap<E>> = { [K in keyof E]?: Listener<E[K]>[] }

// No prototype: an event named like an `Object.prototype` member must find no listeners.
const noListeners = <E extends EventMap<E>>(): Listeners<E> => Object.create(null)

export class TypedEmitter<E extends EventMap<E>> {
  // Lists are replaced, never changed in place, so an emit in progress runs exactly the listeners it started
  // with and needs no copy. An event whose last listener went keeps its empty list: emitters have a fixed set of
  // events, and deleting it would cost the browser client bytes.
  #listeners: Listeners<E> = noListeners()

  on<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    this.#listeners[event] = [...(this.#listeners[event] ?? []), listener]
    return this
  }

  once<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const wrapper = (...args: E[K]) => {
      this.off(event, wrapper)
      listener(...args)
    }
    return this.on(event, wrapper)
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const list = this.#listeners[event] ?? []
    const index = list.indexOf(listener)
    this.#listeners[event] = list.filter((_, i) => i !== index)
    return this
  }

  removeAllListeners(event?: keyof E): this {
    if (event === undefined) this.#listeners = noListeners()
    else delete this.#listeners[event]
    return this
  }

  listenerCount(event: keyof E): number {
    return this.#listeners[event]?.length ?? 0
  }

  /** Returns whether any listener ran. Listeners added or removed during an emit take effect from the next one. */
  emit<K extends keyof E>(event: K, ...args: E[K]): boolean {
    const list = this.#listeners[event] ?? []
    for (const listener of list) listener(...args)
    return list.length > 0
  }
}
