import { type AdapterHandle, adapterFailure } from '../adapter-handle.js'
import { toError } from '../errors.js'
import { type MesaStats, timed } from '../stats.js'

/**
 * What this server follows on the adapter (`Adapter.follow`/`unfollow`): a channel from its first local
 * subscriber until its last one leaves. Changes are batched per tick into one `follow` and one `unfollow` call,
 * issued in order; a channel followed and left within one tick (or left and followed again) costs no call.
 */
export class ChannelFollows {
  /** Channels the adapter was told to follow, with that call (it may still be under way). */
  private readonly followed = new Map<string, Promise<void>>()
  private readonly toFollow = new Set<string>()
  private readonly toUnfollow = new Set<string>()
  /** The follow call of this tick, settled by `flush`. */
  private batch: { promise: Promise<void>; settle: (call: Promise<void>) => void } | undefined
  private scheduled = false
  /** Calls under way, so that a closing server waits for them. */
  private readonly calls = new Set<Promise<unknown>>()

  constructor(
    private readonly origin: string,
    private readonly adapter: AdapterHandle,
    private readonly stats: MesaStats,
    /** Reports a failed call (a failed follow also fails the subscriptions waiting for it). */
    private readonly report: (error: Error) => void,
  ) {}

  /**
   * The channel got its first local subscriber: resolves once the adapter delivers the channel's envelopes to
   * this server, rejects with `AdapterError` when it could not follow it.
   */
  follow(channel: string): Promise<void> {
    if (this.toUnfollow.delete(channel)) return this.followed.get(channel)!
    const current = this.followed.get(channel)
    if (current !== undefined) return current
    this.toFollow.add(channel)
    this.schedule()
    if (this.batch === undefined) {
      let settle: (call: Promise<void>) => void = () => {}
      const promise = new Promise<void>((resolve, reject) => {
        settle = (call) => call.then(resolve, reject)
      })
      this.batch = { promise, settle }
    }
    return this.batch.promise
  }

  /** The channel's last local subscriber left. */
  unfollow(channel: string): void {
    if (this.toFollow.delete(channel)) return
    if (this.followed.has(channel)) {
      this.toUnfollow.add(channel)
      this.schedule()
    }
  }

  /** Resolves once every call issued so far settled. */
  async idle(): Promise<void> {
    while (this.scheduled || this.calls.size > 0) {
      await Promise.allSettled([...this.calls, Promise.resolve()])
    }
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    queueMicrotask(() => void this.flush())
  }

  private async flush(): Promise<void> {
    const batch = this.batch
    this.batch = undefined
    const follows = [...this.toFollow]
    const unfollows = [...this.toUnfollow]
    this.toFollow.clear()
    this.toUnfollow.clear()
    this.scheduled = false
    for (const channel of unfollows) this.followed.delete(channel)
    let following: Promise<void> = Promise.resolve()
    if (follows.length > 0) {
      following = this.call('follow', follows)
      for (const channel of follows) this.followed.set(channel, following)
      following.catch((error: unknown) => {
        this.report(toError(error))
        // Not followed after all: the next subscriber tries again.
        for (const channel of follows) if (this.followed.get(channel) === following) this.followed.delete(channel)
        this.stats.channels.followed = this.followed.size
      })
    }
    this.stats.channels.followed = this.followed.size
    batch?.settle(following)
    if (unfollows.length > 0) this.call('unfollow', unfollows).catch((error: unknown) => this.report(toError(error)))
  }

  /** One adapter call, in the order issued (both wait for the same adapter promise when it is still loading). */
  private call(method: 'follow' | 'unfollow', channels: string[]): Promise<void> {
    const call = Promise.resolve(this.adapter.get()).then((adapter) => timed(this.stats, () => adapter[method](this.origin, channels)))
    const typed = call.catch((error: unknown) => {
      throw adapterFailure(error, `${method} of ${channels.length} channel(s) failed`)
    })
    this.calls.add(typed)
    const forget = (): void => {
      this.calls.delete(typed)
    }
    typed.then(forget, forget)
    return typed
  }
}
