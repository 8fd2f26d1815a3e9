/**
 * A small typed event emitter that runs in browsers as well as Node. Unlike Node's EventEmitter, emitting
 * `error` with no listener does not throw: a library must not crash its host over a bad frame from a peer.
 */
export type EventMap<E> = { [K in keyof E]: unknown[] }

type Listener<A extends unknown[]> = (...args: A) => void

export class TypedEmitter<E extends EventMap<E>> {
  private readonly listeners: { [K in keyof E]?: Listener<E[K]>[] } = Object.create(null)

  on<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const list = this.listeners[event]
    if (list) list.push(listener)
    else this.listeners[event] = [listener]
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
    const list = this.listeners[event]
    if (!list) return this
    const index = list.indexOf(listener)
    if (index !== -1) list.splice(index, 1)
    if (list.length === 0) delete this.listeners[event]
    return this
  }

  removeAllListeners(event?: keyof E): this {
    if (event === undefined) {
      for (const key of Object.keys(this.listeners)) delete this.listeners[key as keyof E]
    } else delete this.listeners[event]
    return this
  }

  listenerCount(event: keyof E): number {
    return this.listeners[event]?.length ?? 0
  }

  /** Returns whether any listener ran. Listeners added or removed during an emit take effect from the next one. */
  emit<K extends keyof E>(event: K, ...args: E[K]): boolean {
    const list = this.listeners[event]
    if (!list) return false
    if (list.length === 1) {
      list[0]!(...args)
      return true
    }
    for (const listener of list.slice()) listener(...args)
    return true
  }
}
