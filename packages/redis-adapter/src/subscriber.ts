import { AdapterError } from '@mesa/core'
import calculateSlot from 'cluster-key-slot'
import type { RedisClient, RedisConnections } from './connection.js'
import { debugReplication } from './debug.js'

/** Channels per SUBSCRIBE on a standalone Redis: subscribing again to thousands takes a few commands, not one huge one. */
const CHANNELS_PER_COMMAND = 1000

export interface SubscriberOptions {
  /** A message arrived on one of the channels. */
  onMessage: (message: string) => void
  /** Watches the connection's health (the adapter's outage tracking), under the label `subscriber`. */
  watch: (client: RedisClient, label: string) => void
}

/** Subscriptions asked for within one tick, confirmed together. */
interface Batch {
  readonly channels: string[]
  readonly confirmed: Promise<void>
  readonly settle: (error?: unknown) => void
}

function newBatch(): Batch {
  let settle!: (error?: unknown) => void
  const confirmed = new Promise<void>((resolve, reject) => {
    settle = (error) => (error === undefined ? resolve() : reject(error))
  })
  // Awaited by every caller that joined the batch; this only keeps a batch nobody awaits any more quiet.
  confirmed.catch(() => {})
  return { channels: [], confirmed, settle }
}

/**
 * The adapter's one pub/sub connection and what it is subscribed to: the replication bus and the followed Mesa
 * channels. Subscriptions and unsubscriptions asked for within one tick go out together, in as few commands as
 * Redis takes: one SUBSCRIBE / UNSUBSCRIBE per thousand channels on a standalone Redis, one SSUBSCRIBE /
 * SUNSUBSCRIBE per slot on a Cluster (a sharded command may only name channels of one slot). A subscription
 * counts once Redis confirmed it, within `commandTimeoutMs`.
 *
 * After a reconnect ioredis subscribes again by itself, without waiting for the answer; `resubscribe()` does it
 * again and waits, so the adapter announces `ready` only once messages flow. On a Cluster the connection is
 * ioredis's sharded subscriber group, which re-reads the slot map every second and subscribes again on the new
 * owner of a slot that moved (see `RedisConnections.duplicate`).
 */
export class Subscriber {
  /** Channel -> the confirmation of its subscription (pending, or settled). */
  private readonly subscribed = new Map<string, Promise<void>>()
  /** Unsubscriptions asked for this tick, with the confirmation a subscription asked for before the flush restores. */
  private readonly leaving = new Map<string, Promise<void>>()
  /**
   * Channels Redis may be subscribed to though nobody wants them: their unsubscription went unconfirmed (sent
   * again with the next `resubscribe()`), or their subscription did (it may still be carried out, so the next
   * flush unsubscribes them).
   */
  private readonly unconfirmed = new Set<string>()
  private batch: Batch | undefined
  private flushing: ReturnType<typeof setImmediate> | undefined
  private client: RedisClient | undefined
  private closed = false

  constructor(
    private readonly connections: RedisConnections,
    private readonly options: SubscriberOptions,
  ) {}

  /** Subscribes to `channels` (those not subscribed yet, with the next flush); resolves once Redis confirmed all. */
  subscribe(channels: readonly string[]): Promise<void> {
    if (this.closed) return Promise.reject(new AdapterError('the subscriber is closed'))
    const confirmations: Promise<void>[] = []
    for (const channel of channels) {
      let confirmed = this.subscribed.get(channel) ?? this.leaving.get(channel)
      this.leaving.delete(channel)
      if (confirmed === undefined) {
        this.batch ??= newBatch()
        this.batch.channels.push(channel)
        confirmed = this.batch.confirmed
        this.schedule()
      }
      this.subscribed.set(channel, confirmed)
      confirmations.push(confirmed)
    }
    return Promise.all(confirmations).then(() => undefined)
  }

  /** Unsubscribes from `channels` with the next flush (unless they are subscribed to again before it). */
  unsubscribe(channels: readonly string[]): void {
    if (this.closed) return
    for (const channel of channels) {
      const confirmed = this.subscribed.get(channel)
      if (confirmed === undefined) continue
      this.subscribed.delete(channel)
      this.leaving.set(channel, confirmed)
      this.schedule()
    }
  }

  /**
   * Subscribes again to every channel, and unsubscribes from those whose unsubscription went unconfirmed, waiting
   * for Redis to confirm (after a reconnect).
   */
  async resubscribe(): Promise<void> {
    if (!this.client) return
    const client = this.client
    const leftovers = this.strays()
    this.send(client, 'unsubscribe', leftovers).catch(() => {
      for (const channel of leftovers) this.unconfirmed.add(channel)
    })
    await this.send(client, 'subscribe', [...this.subscribed.keys()])
    debugReplication('subscribed again to %d channels', this.subscribed.size)
  }

  close(): void {
    this.closed = true
    if (this.flushing) clearImmediate(this.flushing)
    this.flushing = undefined
    this.batch?.settle(new AdapterError('the adapter closed before Redis confirmed the subscription'))
    this.batch = undefined
    this.subscribed.clear()
    this.leaving.clear()
    if (this.client) this.connections.release(this.client)
    this.client = undefined
  }

  private schedule(): void {
    if (!this.closed) this.flushing ??= setImmediate(() => this.flush())
  }

  /** Subscriptions first: an unsubscription asked for after a subscription in the same tick comes last. */
  private flush(): void {
    this.flushing = undefined
    const batch = this.batch
    this.batch = undefined
    const leaving = [...this.leaving.keys(), ...this.strays()]
    this.leaving.clear()
    if (batch === undefined && leaving.length === 0) return
    const client = this.connect()
    if (batch) {
      this.send(client, 'subscribe', batch.channels).then(
        () => batch.settle(),
        (error: unknown) => {
          for (const channel of batch.channels) {
            if (this.subscribed.get(channel) === batch.confirmed) this.subscribed.delete(channel)
            this.unconfirmed.add(channel)
          }
          batch.settle(error)
          this.schedule()
        },
      )
    }
    if (leaving.length === 0) return
    // While a connection is being made, ioredis writes an UNSUBSCRIBE at once but queues a SUBSCRIBE until it is
    // ready: the unsubscription would overtake it. It waits for `ready` instead.
    if (client.status !== 'ready') {
      for (const channel of leaving) this.unconfirmed.add(channel)
      return
    }
    this.send(client, 'unsubscribe', leaving).catch(() => {
      // The connection is failing (reported by `watch`): try again once it is back.
      for (const channel of leaving) this.unconfirmed.add(channel)
    })
  }

  /** Unconfirmed channels nobody wants (again): to unsubscribe from. */
  private strays(): string[] {
    const strays = [...this.unconfirmed].filter((channel) => !this.subscribed.has(channel))
    this.unconfirmed.clear()
    return strays
  }

  private connect(): RedisClient {
    if (this.client) return this.client
    const client = this.connections.duplicate('subscriber')
    this.client = client
    this.options.watch(client, 'subscriber')
    client.on('ready', () => {
      if (this.unconfirmed.size > 0) this.schedule()
    })
    client.on(this.connections.isCluster ? 'smessage' : 'message', (_channel: string, message: string) =>
      this.options.onMessage(message),
    )
    return client
  }

  /** The commands for `channels`, each bounded by `commandTimeoutMs`; resolves once Redis answered all. */
  private async send(client: RedisClient, action: 'subscribe' | 'unsubscribe', channels: string[]): Promise<void> {
    if (channels.length === 0) return
    const commands: Promise<unknown>[] = []
    if (this.connections.isCluster) {
      for (const group of bySlot(channels)) {
        commands.push(action === 'subscribe' ? client.ssubscribe(...group) : client.sunsubscribe(...group))
      }
    } else {
      for (let i = 0; i < channels.length; i += CHANNELS_PER_COMMAND) {
        const chunk = channels.slice(i, i + CHANNELS_PER_COMMAND)
        commands.push(action === 'subscribe' ? client.subscribe(...chunk) : client.unsubscribe(...chunk))
      }
    }
    if (debugReplication.enabled) debugReplication('%s %d channels in %d commands', action, channels.length, commands.length)
    await Promise.all(commands.map((command) => this.connections.timed(command)))
  }
}

/** Channels grouped by their Cluster slot. */
function bySlot(channels: readonly string[]): string[][] {
  const groups = new Map<number, string[]>()
  for (const channel of channels) {
    const slot = calculateSlot(channel)
    const group = groups.get(slot)
    if (group) group.push(channel)
    else groups.set(slot, [channel])
  }
  return [...groups.values()]
}
