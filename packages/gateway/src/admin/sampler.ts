import type { Mesa } from '@mesa/server'

/** One point of the admin page's charts: the server's sockets then, and its traffic per second since the last. */
export interface Sample {
  time: number
  connections: number
  authenticated: number
  /** Messages accepted from clients per second. */
  messagesIn: number
  /** Frames written to sockets per second (one per socket per message). */
  messagesOut: number
  bytesIn: number
  bytesOut: number
  /** Channels with a subscriber on this gateway (those its server follows on the adapter). */
  channels: number
  /** Subscriptions of this gateway's sockets (one per socket and channel). */
  subscriptions: number
  /** Publications per second this gateway handled: its server's own, and those it received for its subscribers. */
  publications: number
}

/** The counters a rate is computed from, when they were read. */
interface Counters {
  time: number
  messagesIn: number
  messagesOut: number
  bytesIn: number
  bytesOut: number
  publications: number
}

/** Samples kept: two minutes at one per second. */
export const SAMPLES_KEPT = 120
export const SAMPLE_INTERVAL_MS = 1000

/**
 * The admin page's time series: a bounded ring of samples read from `mesa.stats` (plain counters, so a sample
 * costs a few reads), one per second, started when the page is first opened (a gateway nobody watches samples
 * nothing) and kept until the gateway closes.
 *
 * A rate is what was counted since the previous sample over the whole sample intervals that elapsed: a timer
 * that fires 20 ms late covers one interval, not 1.02 s, so the same traffic gives the same figures on every
 * run (30 messages read "30 /s", never "29 /s"), while a sample delayed by seconds (a blocked event loop) spreads
 * its count over the intervals it covers.
 */
export class Sampler {
  private readonly samples: Sample[] = []
  private timer: ReturnType<typeof setInterval> | undefined
  private last: Counters | undefined

  constructor(
    private readonly mesa: Pick<Mesa, 'stats'>,
    private readonly onSample: () => void,
    /** ms since the Unix epoch. */
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    if (this.timer !== undefined) return
    this.sample()
    this.timer = setInterval(() => this.sample(), SAMPLE_INTERVAL_MS)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  history(): readonly Sample[] {
    return this.samples
  }

  /** Takes a sample now (the timer calls it every `SAMPLE_INTERVAL_MS`). */
  sample(): void {
    const { connections, messagesIn, messagesOut, bytesIn, bytesOut, channels } = this.mesa.stats
    const now: Counters = {
      time: this.now(),
      messagesIn,
      messagesOut,
      bytesIn,
      bytesOut,
      publications: channels.published + channels.received,
    }
    const last = this.last ?? now
    const intervals = Math.max(1, Math.round((now.time - last.time) / SAMPLE_INTERVAL_MS))
    const seconds = (intervals * SAMPLE_INTERVAL_MS) / 1000
    const rate = (key: Exclude<keyof Counters, 'time'>) => Math.round((now[key] - last[key]) / seconds)
    this.last = now
    this.samples.push({
      time: now.time,
      connections: connections.total,
      authenticated: connections.authenticated,
      messagesIn: rate('messagesIn'),
      messagesOut: rate('messagesOut'),
      bytesIn: rate('bytesIn'),
      bytesOut: rate('bytesOut'),
      channels: channels.followed,
      subscriptions: channels.subscriptions,
      publications: rate('publications'),
    })
    if (this.samples.length > SAMPLES_KEPT) this.samples.shift()
    this.onSample()
  }
}
