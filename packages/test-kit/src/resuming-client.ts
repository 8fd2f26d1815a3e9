import { type Positions, RawClient, type WireFrame } from './raw-client.js'
import { delay } from './wait.js'

export interface ResumingClientOptions {
  /** Auth data sent with op 2 (the fixtures' servers authenticate `{ id }` as user `id`). */
  auth: Record<string, unknown>
  /** Reconnection attempts after one loss of connection before giving up. Default 50. */
  maxAttempts?: number
  /** Pause between attempts (ms). Default 100. */
  retryDelayMs?: number
}

/**
 * A v2 raw client that, when its server goes away, connects to the next of `urls` and authenticates with
 * its positions, so the server replays what it missed: what a load balancer in front of several servers
 * gives a real client. `delivered` spans every connection. Attempts are bounded in count.
 */
export class ResumingClient {
  readonly urls: readonly string[]
  readonly delivered: WireFrame[] = []
  /** op 22 frames, one per (re)authentication. */
  readonly acks: WireFrame[] = []
  /** Why each connection that was lost closed (code and reason), so a test can say why its client reconnected. */
  readonly closes: { code: number; reason: string }[] = []
  /** The error that made it give up reconnecting, if it did. */
  failure: Error | undefined
  private current: RawClient | undefined
  private next: number
  private stopped = false
  private readonly options: Required<ResumingClientOptions>
  private reconnecting: Promise<void> | undefined

  private constructor(urls: readonly string[], start: number, options: ResumingClientOptions) {
    this.urls = urls
    this.next = start
    this.options = { maxAttempts: 50, retryDelayMs: 100, ...options }
  }

  /** Connects to `urls[start]` (then the following ones as servers fail) and authenticates. */
  static async connect(
    urls: readonly string[],
    start: number,
    options: ResumingClientOptions,
  ): Promise<ResumingClient> {
    const client = new ResumingClient(urls, start, options)
    await client.attach()
    return client
  }

  get url(): string | undefined {
    return this.current?.url
  }

  get positions(): Positions {
    return this.current?.positions ?? {}
  }

  get connection(): RawClient | undefined {
    return this.current
  }

  /** Resolves when a reconnection under way finished (or at once). */
  async settled(): Promise<void> {
    await this.reconnecting
  }

  messagesOf(type: string): WireFrame[] {
    return this.delivered.filter((f) => f.t === type)
  }

  async close(): Promise<void> {
    this.stopped = true
    await this.reconnecting?.catch(() => {})
    await this.current?.close()
  }

  private async attach(): Promise<void> {
    const url = this.urls[this.next % this.urls.length]!
    this.next++
    const positions = this.current?.positions
    const client = await RawClient.connect(url, {
      v2: true,
      positions,
      onDeliver: (frame) => this.delivered.push(frame),
      timeoutMs: 3000,
    })
    this.current = client
    let ack: WireFrame
    try {
      ack = await client.authenticate(this.options.auth, { timeoutMs: 5000 })
    } catch (error) {
      client.terminate()
      throw error
    }
    this.acks.push(ack)
    void client.closed.then((close) => {
      if (this.stopped || this.current !== client) return
      this.closes.push(close)
      this.reconnecting = this.reconnect().catch((error: Error) => {
        this.failure = error
      })
    })
  }

  private async reconnect(): Promise<void> {
    let lastError: unknown
    for (let attempt = 0; attempt < this.options.maxAttempts && !this.stopped; attempt++) {
      try {
        await this.attach()
        return
      } catch (error) {
        lastError = error
        await delay(this.options.retryDelayMs)
      }
    }
    if (!this.stopped)
      throw new Error(`gave up reconnecting after ${this.options.maxAttempts} attempts: ${String(lastError)}`)
  }
}
