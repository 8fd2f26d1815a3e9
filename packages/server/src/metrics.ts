import type { Adapter } from '@mesa/core/server'
import { Counter, Gauge, type Metric, register as globalRegistry, type Registry } from 'prom-client'
import type { MesaStats } from './stats.js'

/** What the metrics read of a server: a `Mesa` fits. */
export interface MetricsSource {
  readonly id: string
  readonly stats: MesaStats
  readonly adapter: Adapter | undefined
}

/** A scrape waits this long for the portal queue's depth (a Redis round trip) before leaving it out. */
const PENDING_TIMEOUT_MS = 1000

type Read = (stats: MesaStats) => number

/** Each monotonic counter of `mesa.stats` and its Prometheus name and help. */
const COUNTERS: readonly [Read, string, string][] = [
  [(s) => s.messagesIn, 'mesa_messages_in_total', 'Messages (op 0) accepted from clients.'],
  [(s) => s.bytesIn, 'mesa_bytes_in_total', 'Bytes of every frame read from clients.'],
  [(s) => s.messagesOut, 'mesa_messages_out_total', 'Frames written to sockets (one per socket per message).'],
  [(s) => s.bytesOut, 'mesa_bytes_out_total', 'Bytes of the frames written to sockets.'],
  [(s) => s.sendFailures, 'mesa_send_failures_total', 'Sends (mesa.send, client.send, mesa.publish) that rejected.'],
  [(s) => s.slowConsumerCuts, 'mesa_slow_consumer_cuts_total', 'Sockets closed for not reading what was sent to them (4007, or 1013 over the server-wide bound).'],
  [(s) => s.rateLimited, 'mesa_rate_limited_total', 'Frames refused by rate limits.'],
  [(s) => s.replays, 'mesa_replays_total', 'Stored messages written to clients that resumed or came back.'],
  [(s) => s.resyncs, 'mesa_resyncs_total', 'Authentications answered with recovered: false (the client resyncs).'],
  [(s) => s.channels.published, 'mesa_publications_total', 'Channel publications this server published (mesa.publish).'],
  [(s) => s.channels.received, 'mesa_publications_received_total', 'Channel publications received from other servers and dispatchers.'],
]

/** Gauges of `mesa.stats` with one value per server. */
const GAUGES: readonly [Read, string, string][] = [
  [(s) => s.connections.authenticated, 'mesa_connections_authenticated', 'Open sockets that authenticated.'],
  [(s) => s.channels.subscriptions, 'mesa_channel_subscriptions', "Subscriptions of this server's sockets to channels."],
  [(s) => s.channels.followed, 'mesa_channels_followed', 'Channels this server follows on the adapter (those with a subscriber here).'],
]

/**
 * The adapter latency histogram, read from `stats.adapterLatency` on scrape. prom-client's `Histogram` only
 * counts observations it is given, so this is a metric of its own: what `Registry` reads of a metric (its
 * `name`, `help`, `type`, `aggregator`, `get()` resolving to `{ values: [{ metricName, labels, value }] }`, and
 * `reset()`) is the documented shape of `getMetricsAsJSON`.
 */
class LatencyHistogram {
  readonly name = 'mesa_adapter_latency_seconds'
  readonly help = 'Adapter round trips of sends (store append, publish), seconds.'
  readonly type = 'histogram'
  readonly aggregator = 'sum'

  constructor(private readonly servers: ReadonlySet<MetricsSource>) {}

  async get() {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = []
    for (const { id, stats } of this.servers) {
      const { bounds, counts, sum, count } = stats.adapterLatency
      let cumulative = 0
      for (let i = 0; i < counts.length; i++) {
        cumulative += counts[i]!
        const le = i < bounds.length ? bounds[i]! / 1000 : '+Inf'
        values.push({ metricName: `${this.name}_bucket`, labels: { le, server: id }, value: cumulative })
      }
      values.push({ metricName: `${this.name}_sum`, labels: { server: id }, value: sum / 1000 })
      values.push({ metricName: `${this.name}_count`, labels: { server: id }, value: count })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  reset(): void {
    // Nothing to reset: the values are the server's.
  }
}

/** The portal queue's depth, or undefined when the queue cannot tell, fails, or does not answer in time. */
async function portalDepth(adapter: Adapter | undefined): Promise<number | undefined> {
  const queue = adapter?.portal
  if (typeof queue?.pending !== 'function') return undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), PENDING_TIMEOUT_MS)
  })
  try {
    return await Promise.race([queue.pending(), timeout])
  } catch {
    // A scrape must not fail because Redis is down: the series is left out (and `up` stays 1).
    return undefined
  } finally {
    clearTimeout(timer)
  }
}

/** The options of a gauge or a counter with one value per server, read from its stats when scraped. */
function perServer(servers: ReadonlySet<MetricsSource>, registers: Registry[], [read, name, help]: readonly [Read, string, string]) {
  return {
    name,
    help,
    labelNames: ['server'] as const,
    registers,
    collect(this: { reset(): void; inc(labels: { server: string }, value: number): void }) {
      // A counter cannot be set: the server's value is the one increment after a reset (a gauge's too).
      this.reset()
      for (const { id, stats } of servers) this.inc({ server: id }, read(stats))
    },
  }
}

/** The collectors of one registry, shared by every server registered in it. */
interface RegisteredMetrics {
  readonly servers: Set<MetricsSource>
  /** The first metric: a registry that no longer holds it was cleared. */
  readonly first: Metric
  readonly names: readonly string[]
}

const byRegistry = new WeakMap<Registry, RegisteredMetrics>()

function createMetrics(registry: Registry): RegisteredMetrics {
  const servers = new Set<MetricsSource>()
  const registers = [registry]
  const names = ['mesa_connections', ...GAUGES.map(([, name]) => name), ...COUNTERS.map(([, name]) => name)]
  names.push('mesa_portal_queue_pending', 'mesa_dedupe_evicted_total', 'mesa_adapter_latency_seconds')
  const taken = names.find((name) => registry.getSingleMetric(name) !== undefined)
  if (taken !== undefined) throw new Error(`registerMesaMetrics: the registry already has a metric named ${taken}`)
  const first = new Gauge({
    name: 'mesa_connections',
    help: 'Open sockets, by protocol (1: Mesa 1.x clients, 2: Mesa 2 clients).',
    labelNames: ['server', 'protocol'] as const,
    registers,
    collect() {
      this.reset()
      for (const { id, stats } of servers) {
        this.set({ server: id, protocol: '1' }, stats.connections.protocol1)
        this.set({ server: id, protocol: '2' }, stats.connections.protocol2)
      }
    },
  })
  for (const metric of GAUGES) new Gauge(perServer(servers, registers, metric))
  for (const metric of COUNTERS) new Counter(perServer(servers, registers, metric))
  new Gauge({
    name: 'mesa_portal_queue_pending',
    help: 'Client events no portal has finished (waiting or being handled), as the adapter tells them.',
    labelNames: ['server'] as const,
    registers,
    async collect() {
      const sources = [...servers]
      const depths = await Promise.all(sources.map((server) => portalDepth(server.adapter)))
      this.reset()
      sources.forEach((server, i) => {
        const depth = depths[i]
        if (depth !== undefined) this.set({ server: server.id }, depth)
      })
    },
  })
  new Counter({
    name: 'mesa_dedupe_evicted_total',
    help: "Acknowledged sends the adapter's deduplicator forgot before acks.window ended (it was full): a retransmission of one is handled again.",
    labelNames: ['server'] as const,
    registers,
    collect() {
      this.reset()
      for (const { id, adapter } of servers) {
        const evicted = adapter?.dedupe.evicted
        if (evicted !== undefined) this.inc({ server: id }, evicted)
      }
    },
  })
  registry.registerMetric(new LatencyHistogram(servers) as unknown as Metric)
  return { servers, first, names }
}

/**
 * Exposes a server's `mesa.stats` as Prometheus metrics in `registry` (default: prom-client's global
 * `register`), read when scraped: nothing is added to the server's hot paths. Every series has a `server`
 * label (`mesa.id`), so several servers can share one registry. Returns a function that takes the server out
 * again (the metrics leave the registry with the last one).
 *
 * Metrics: `mesa_connections{protocol}`, `mesa_connections_authenticated`, `mesa_messages_in_total`,
 * `mesa_bytes_in_total`, `mesa_messages_out_total`, `mesa_bytes_out_total`, `mesa_send_failures_total`,
 * `mesa_slow_consumer_cuts_total`, `mesa_rate_limited_total`, `mesa_replays_total`, `mesa_resyncs_total`,
 * `mesa_channel_subscriptions`, `mesa_channels_followed`, `mesa_publications_total`,
 * `mesa_publications_received_total`, `mesa_portal_queue_pending` (when the adapter's portal queue tells it),
 * `mesa_dedupe_evicted_total` (when the adapter's deduplicator counts it), `mesa_adapter_latency_seconds`.
 */
export function registerMesaMetrics(mesa: MetricsSource, registry: Registry = globalRegistry): () => void {
  let registered = byRegistry.get(registry)
  // A registry cleared since (`registry.clear()`) gets the metrics anew.
  if (registered !== undefined && registry.getSingleMetric('mesa_connections') !== registered.first) {
    byRegistry.delete(registry)
    registered = undefined
  }
  if (registered === undefined) {
    registered = createMetrics(registry)
    byRegistry.set(registry, registered)
  }
  for (const server of registered.servers) {
    if (server.id === mesa.id) throw new TypeError(`registerMesaMetrics: a server with id "${mesa.id}" is already registered`)
  }
  const { servers, names } = registered
  servers.add(mesa)
  return () => {
    if (!servers.delete(mesa) || servers.size > 0 || byRegistry.get(registry)?.servers !== servers) return
    byRegistry.delete(registry)
    for (const name of names) registry.removeSingleMetric(name)
  }
}
