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
}

/** Samples kept: two minutes at one per second. */
export const SAMPLES_KEPT = 120
export const SAMPLE_INTERVAL_MS = 1000

/**
 * The admin page's time series: a bounded ring of samples read from `mesa.stats` (plain counters, so a sample
 * costs a few reads), one per second, started when the page is first opened (a gateway nobody watches samples
 * nothing) and kept until the gateway closes.
 */
export class Sampler {
  private readonly samples: Sample[] = []
  private timer: ReturnType<typeof setInterval> | undefined
  private last: { time: number; messagesIn: number; messagesOut: number; bytesIn: number; bytesOut: number } | undefined

  constructor(
    private readonly mesa: Mesa,
    private readonly onSample: () => void,
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

  private sample(): void {
    const { connections, messagesIn, messagesOut, bytesIn, bytesOut } = this.mesa.stats
    const now = { time: Date.now(), messagesIn, messagesOut, bytesIn, bytesOut }
    const last = this.last ?? now
    const seconds = Math.max((now.time - last.time) / 1000, 0.001)
    const rate = (key: 'messagesIn' | 'messagesOut' | 'bytesIn' | 'bytesOut') => Math.round((now[key] - last[key]) / seconds)
    this.last = now
    this.samples.push({
      time: now.time,
      connections: connections.total,
      authenticated: connections.authenticated,
      messagesIn: rate('messagesIn'),
      messagesOut: rate('messagesOut'),
      bytesIn: rate('bytesIn'),
      bytesOut: rate('bytesOut'),
    })
    if (this.samples.length > SAMPLES_KEPT) this.samples.shift()
    this.onSample()
  }
}
