/** Upper bounds (ms) of the adapter latency histogram's buckets; the last bucket counts everything above. */
export const ADAPTER_LATENCY_BOUNDS: readonly number[] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500]

/**
 * What a server has done since it started and what it holds now: plain numbers, so that counting on the hot
 * paths costs an increment. `mesa.stats` is the live object; `@mesa/server/metrics` turns it into Prometheus
 * metrics when scraped.
 */
export interface MesaStats {
  /** Open sockets now. */
  readonly connections: { total: number; protocol1: number; protocol2: number; authenticated: number }
  /** op 0 frames accepted from clients. */
  messagesIn: number
  /** Bytes of every text frame read from clients. */
  bytesIn: number
  /** Frames written to sockets: one per socket per message. */
  messagesOut: number
  /** Bytes of those frames. */
  bytesOut: number
  /** `send()` and `publish()` calls that rejected. */
  sendFailures: number
  /** Sockets cut because they did not read what was sent to them. */
  slowConsumerCuts: number
  /** Frames refused by rate limits. */
  rateLimited: number
  /** Stored messages written to clients that resumed or came back (1.x backlog). */
  replays: number
  /** Authentications answered with `recovered: false`. */
  resyncs: number
  /** Channels: what this server's sockets subscribe to, and the publications it handles. */
  readonly channels: {
    /** Subscriptions of this server's sockets now (one per socket and channel, once subscribed). */
    subscriptions: number
    /** Channels this server follows on the adapter now (those with a subscriber here). */
    followed: number
    /** `mesa.publish()` calls that resolved. */
    published: number
    /** Publications received from other servers and dispatchers (only for channels followed here). */
    received: number
  }
  /** Adapter round trips (store, publish): counts per bucket of `bounds` (ms), then above the last bound. */
  readonly adapterLatency: { readonly bounds: readonly number[]; readonly counts: number[]; sum: number; count: number }
}

export function createStats(): MesaStats {
  return {
    connections: { total: 0, protocol1: 0, protocol2: 0, authenticated: 0 },
    messagesIn: 0,
    bytesIn: 0,
    messagesOut: 0,
    bytesOut: 0,
    sendFailures: 0,
    slowConsumerCuts: 0,
    rateLimited: 0,
    replays: 0,
    resyncs: 0,
    channels: { subscriptions: 0, followed: 0, published: 0, received: 0 },
    adapterLatency: { bounds: ADAPTER_LATENCY_BOUNDS, counts: new Array(ADAPTER_LATENCY_BOUNDS.length + 1).fill(0), sum: 0, count: 0 },
  }
}

/** Records one adapter round trip of `ms`. */
export function observeAdapterLatency(stats: MesaStats, ms: number): void {
  const histogram = stats.adapterLatency
  let bucket = 0
  while (bucket < histogram.bounds.length && ms > histogram.bounds[bucket]!) bucket++
  histogram.counts[bucket]!++
  histogram.sum += ms
  histogram.count++
}

/** Runs an adapter call and records how long it took, whether it succeeded or not. */
export async function timed<T>(stats: MesaStats, call: () => Promise<T>): Promise<T> {
  const started = performance.now()
  try {
    return await call()
  } finally {
    observeAdapterLatency(stats, performance.now() - started)
  }
}
