import { type Adapter, MemoryAdapter } from '@mesa/core/server'
import type { GatewayConfig } from './config.js'

/** What the admin page and `/readyz` show of the adapter. */
export interface AdapterStatus {
  kind: 'memory' | 'redis'
  namespace: string
  /** The last probe got an answer in time. */
  reachable: boolean
  /** Round trip of the last successful probe, ms. */
  latencyMs: number | undefined
  /** The adapter's last reported failure, until it reports `ready` again. */
  lastError: { message: string; time: number } | undefined
}

/** A probe that has not answered by then counts as unreachable. */
const PROBE_TIMEOUT_MS = 1000

/**
 * The gateway's adapter and its health: the in-memory one, or Redis (loaded only when a URL is configured, so an
 * in-memory gateway never loads ioredis). `probe()` checks that Redis answers (PING); concurrent callers share
 * one probe in flight, so a load balancer polling `/readyz` hard costs one round trip at a time.
 */
export class AdapterHealth {
  /** The adapter's own report (`error` events), until it says `ready`. */
  private error: AdapterStatus['lastError']
  /** Why the last probe failed; cleared by the next one that succeeds. */
  private probeFailure: AdapterStatus['lastError']
  private latency: number | undefined
  private reachable = true
  private inFlight: Promise<boolean> | undefined

  private constructor(
    readonly adapter: Adapter,
    readonly kind: AdapterStatus['kind'],
    private readonly ping: () => Promise<unknown>,
  ) {
    adapter.on('error', (error) => {
      this.error = { message: error.message, time: Date.now() }
    })
    adapter.on('ready', () => {
      this.error = undefined
    })
  }

  static async create(config: GatewayConfig): Promise<AdapterHealth> {
    const options = { retention: config.retention, ...(config.namespace === undefined ? {} : { namespace: config.namespace }) }
    if (config.redisUrl === undefined) {
      const adapter = new MemoryAdapter(options)
      return new AdapterHealth(adapter, 'memory', async () => {})
    }
    const { createRedisAdapter } = await import('@mesa/redis-adapter')
    const adapter = createRedisAdapter(config.redisUrl, options)
    return new AdapterHealth(adapter, 'redis', () => adapter.client.ping())
  }

  /** Whether the adapter answers now; one probe at a time, bounded by a timeout. */
  probe(): Promise<boolean> {
    this.inFlight ??= this.runProbe().finally(() => {
      this.inFlight = undefined
    })
    return this.inFlight
  }

  status(): AdapterStatus {
    return {
      kind: this.kind,
      namespace: this.adapter.namespace,
      reachable: this.reachable,
      latencyMs: this.latency,
      lastError: this.error ?? this.probeFailure,
    }
  }

  private async runProbe(): Promise<boolean> {
    const started = performance.now()
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS)
    })
    try {
      await Promise.race([this.ping(), timeout])
      this.latency = performance.now() - started
      this.reachable = true
      this.probeFailure = undefined
    } catch (error) {
      this.reachable = false
      this.probeFailure = { message: (error as Error).message, time: Date.now() }
    } finally {
      clearTimeout(timer)
    }
    return this.reachable
  }
}
