import type { RedisKeys } from './keys.js'
import type { Subscriber } from './subscriber.js'

/** How long (ms) a channel nobody follows any more stays subscribed, unless `channelLingerMs` says otherwise. */
export const DEFAULT_CHANNEL_LINGER_MS = 1000

/**
 * Which origins of this adapter follow which Mesa channels, and the Redis subscriptions that follow from it:
 * a channel's pub/sub channel is subscribed when its first origin follows it, and unsubscribed `lingerMs` after
 * its last one stopped (a quarter more at most: one timer sweeps the lingering channels every quarter of it), so
 * that sockets subscribing and unsubscribing over and over cost no Redis command; a follow meanwhile keeps the
 * subscription. The subscriber batches what is asked within one tick.
 */
export class ChannelFollowing {
  /** Mesa channel -> the origins following it. */
  private readonly followers = new Map<string, Set<string>>()
  /** Mesa channels nobody follows that are still subscribed -> when to unsubscribe (ms, ascending). */
  private readonly lingering = new Map<string, number>()
  private sweeper: ReturnType<typeof setInterval> | undefined

  constructor(
    private readonly subscriber: Subscriber,
    private readonly keys: RedisKeys,
    private readonly lingerMs: number,
  ) {}

  /**
   * Resolves once Redis confirmed the subscription of every one of `channels`. When it cannot (Redis is down,
   * or did not answer in time), the follows this call added are taken back, and it rejects.
   */
  async follow(origin: string, channels: readonly string[]): Promise<void> {
    const added: string[] = []
    for (const channel of channels) {
      let origins = this.followers.get(channel)
      if (origins === undefined) {
        origins = new Set()
        this.followers.set(channel, origins)
        this.lingering.delete(channel)
      }
      if (origins.has(origin)) continue
      origins.add(origin)
      added.push(channel)
    }
    try {
      await this.subscriber.subscribe(channels.map((channel) => this.keys.channel(channel)))
    } catch (error) {
      this.unfollow(origin, added)
      throw error
    }
  }

  unfollow(origin: string, channels: readonly string[]): void {
    const left: string[] = []
    for (const channel of channels) {
      const origins = this.followers.get(channel)
      if (!origins?.delete(origin) || origins.size > 0) continue
      this.followers.delete(channel)
      left.push(channel)
    }
    if (left.length === 0) return
    if (this.lingerMs === 0) {
      this.subscriber.unsubscribe(left.map((channel) => this.keys.channel(channel)))
      return
    }
    const until = Date.now() + this.lingerMs
    for (const channel of left) this.lingering.set(channel, until)
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(1, Math.floor(this.lingerMs / 4)))
    this.sweeper.unref()
  }

  follows(origin: string, channel: string): boolean {
    return this.followers.get(channel)?.has(origin) === true
  }

  close(): void {
    clearInterval(this.sweeper)
    this.sweeper = undefined
    this.followers.clear()
    this.lingering.clear()
  }

  /** Unsubscribes the channels whose linger is over, in one batch; stops once none lingers. */
  private sweep(): void {
    const now = Date.now()
    const due: string[] = []
    for (const [channel, until] of this.lingering) {
      if (until > now) break
      this.lingering.delete(channel)
      due.push(this.keys.channel(channel))
    }
    if (due.length > 0) this.subscriber.unsubscribe(due)
    if (this.lingering.size === 0) {
      clearInterval(this.sweeper)
      this.sweeper = undefined
    }
  }
}
