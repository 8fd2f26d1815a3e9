import type { Mesa } from '@mesa/server'

/** One point of the admin page's charts. */
export interface Sample {
  time: number
  connections: number
  authenticated: number
}

/** Samples kept: two minutes at one per second. */
export const SAMPLES_KEPT = 120
export const SAMPLE_INTERVAL_MS = 1000

/**
 * The admin page's time series: a bounded ring of samples of the server, one per second, started when the page
 * is first opened (a gateway nobody watches samples nothing) and kept until the gateway closes.
 */
export class Sampler {
  private readonly samples: Sample[] = []
  private timer: ReturnType<typeof setInterval> | undefined

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
    const clients = this.mesa.clients
    this.samples.push({
      time: Date.now(),
      connections: clients.length,
      authenticated: clients.filter((client) => client.authenticated).length,
    })
    if (this.samples.length > SAMPLES_KEPT) this.samples.shift()
    this.onSample()
  }
}
