import type { Connection } from '../connection.js'
import type { ChannelKey } from '../redelivery.js'
import type { MesaStats } from '../stats.js'
import type { ChannelFollows } from './channel-follows.js'

/** One socket's subscription to one channel. */
export interface Subscription {
  readonly channel: string
  /** Its stream, as the store and the socket's delivery name it. */
  readonly key: ChannelKey
  /** Asked for by the application or a dispatcher, not by the client (no authorize hook; the client may not end it). */
  readonly server: boolean
  /** `subscribing` until its answer (op 31) is written: authorizing, following, reading history. */
  state: 'subscribing' | 'active'
  /** The user id its presence on the channel was recorded under, while it is. */
  presence: string | undefined
}

/**
 * Which local sockets take which channel: the one owner of the channel -> sockets index (what a publication
 * is written to, O(subscribers of the channel)) and of each socket's subscriptions (subscribing ones too, what the
 * limits count). The first socket taking a channel makes this server follow it on the adapter, the last one
 * leaving unfollows it, so a server receives only the channels it serves.
 */
export class ChannelRegistry<C extends Connection = Connection> {
  /** Channel -> the sockets taking its publications. */
  private readonly receivers = new Map<string, Set<C>>()
  /** Socket -> its subscriptions by channel. */
  private readonly bySocket = new Map<C, Map<string, Subscription>>()

  constructor(
    private readonly follows: ChannelFollows,
    private readonly stats: MesaStats,
  ) {}

  get(connection: C, channel: string): Subscription | undefined {
    return this.bySocket.get(connection)?.get(channel)
  }

  /** The socket's subscriptions, subscribing ones included. */
  of(connection: C): ReadonlyMap<string, Subscription> | undefined {
    return this.bySocket.get(connection)
  }

  count(connection: C): number {
    return this.bySocket.get(connection)?.size ?? 0
  }

  /** The sockets taking the channel's publications. */
  sockets(channel: string): ReadonlySet<C> | undefined {
    return this.receivers.get(channel)
  }

  /** Records a subscription being set up: it counts toward the socket's limit but takes nothing yet. */
  reserve(connection: C, subscription: Subscription): void {
    let subscriptions = this.bySocket.get(connection)
    if (subscriptions === undefined) {
      subscriptions = new Map()
      this.bySocket.set(connection, subscriptions)
    }
    subscriptions.set(subscription.channel, subscription)
  }

  /**
   * The socket takes the channel's publications from now on. Resolves once this server follows the channel on
   * the adapter (at once when it already does); rejects with `AdapterError` when it could not.
   */
  receive(connection: C, subscription: Subscription): Promise<void> {
    const { channel } = subscription
    const sockets = this.receivers.get(channel)
    if (sockets !== undefined) sockets.add(connection)
    else this.receivers.set(channel, new Set([connection]))
    return this.follows.follow(channel)
  }

  /** The subscription is answered: it counts as one of the server's subscriptions. */
  activate(subscription: Subscription): void {
    subscription.state = 'active'
    this.stats.channels.subscriptions++
  }

  /** Ends the socket's subscription to the channel, whatever its state; returns it (undefined when there was none). */
  remove(connection: C, channel: string): Subscription | undefined {
    const subscriptions = this.bySocket.get(connection)
    const subscription = subscriptions?.get(channel)
    if (subscription === undefined) return undefined
    subscriptions!.delete(channel)
    if (subscriptions!.size === 0) this.bySocket.delete(connection)
    this.leave(connection, subscription)
    return subscription
  }

  /** The socket closed: ends all its subscriptions and returns them. */
  removeAll(connection: C): Subscription[] {
    const subscriptions = this.bySocket.get(connection)
    if (subscriptions === undefined) return []
    this.bySocket.delete(connection)
    const ended = [...subscriptions.values()]
    for (const subscription of ended) this.leave(connection, subscription)
    return ended
  }

  private leave(connection: C, subscription: Subscription): void {
    if (subscription.state === 'active') this.stats.channels.subscriptions--
    const { channel } = subscription
    const sockets = this.receivers.get(channel)
    if (!sockets?.delete(connection) || sockets.size > 0) return
    this.receivers.delete(channel)
    this.follows.unfollow(channel)
  }
}
