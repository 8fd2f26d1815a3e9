import type { Frame, Message, MessageMap, StreamPosition } from '@mesa/core'
import type { ChannelEnvelope, ChannelMembers, SubscriptionEnvelope } from '@mesa/core/server'
import type { AdapterHandle } from '../adapter-handle.js'
import type { ResolvedChannels } from '../options.js'
import type { ServerClient } from '../server-client.js'
import type { ServerConnection, ServerEvents } from '../server-events.js'
import type { MesaStats } from '../stats.js'
import type { AuthorizeHook } from './authorize.js'
import { ChannelFollows } from './channel-follows.js'
import { ChannelPresence } from './channel-presence.js'
import { ChannelRegistry } from './channel-registry.js'
import { ChannelRules } from './channel-rules.js'
import { type HistoryQuery, type HistoryResult, historyQueryProblem, readHistory } from './history.js'
import { checkChannel, Publications } from './publications.js'
import { StoredSubscriptions } from './stored-subscriptions.js'
import { Subscriptions, type SubscriptionSettings } from './subscriptions.js'

type Connection<In extends MessageMap<In>, Out extends MessageMap<Out>, User> = ServerConnection<In, Out, User>

/**
 * Channels on one server, wired: the registry (who takes what, what the server follows), the subscription
 * flow, publications and presence. `Mesa` hands it the frames (op 30, 32), envelopes and socket events it owns,
 * and forwards its public channel calls here.
 */
export class ServerChannels<In extends MessageMap<In>, Out extends MessageMap<Out>, User> {
  private readonly follows: ChannelFollows
  private readonly registry: ChannelRegistry<Connection<In, Out, User>>
  private readonly subscriptions: Subscriptions<In, Out, User>
  private readonly publications: Publications<In, Out, User>
  private readonly channelPresence: ChannelPresence
  private readonly stored: StoredSubscriptions<In, Out, User>

  constructor(
    origin: string,
    config: ResolvedChannels,
    settings: Omit<SubscriptionSettings, 'maxPerConnection' | 'subscribeRate'>,
    private readonly adapter: AdapterHandle,
    /** This server's authenticated sockets of a user (the recipient index). */
    private readonly socketsOf: (userId: string) => Iterable<Connection<In, Out, User>> | undefined,
    events: ServerEvents<In, Out, User>,
    stats: MesaStats,
  ) {
    const rules = new ChannelRules(config.rules)
    this.follows = new ChannelFollows(origin, adapter, stats, (error) => events.error(error))
    this.registry = new ChannelRegistry(this.follows, stats)
    this.publications = new Publications(origin, this.registry, rules, adapter, events, stats)
    this.channelPresence = new ChannelPresence(
      adapter,
      rules,
      (channel, userId, joined) => this.publications.announce(channel, userId, joined),
      (error, connection) => events.error(error, connection as Connection<In, Out, User>),
    )
    this.subscriptions = new Subscriptions(
      { ...settings, maxPerConnection: config.maxPerConnection, subscribeRate: config.subscribeRate },
      this.registry,
      rules,
      this.channelPresence,
      adapter,
      events,
      stats,
    )
    this.stored = new StoredSubscriptions(
      adapter,
      (connection, channel) => this.subscriptions.subscribeFromServer(connection, channel),
      (error, connection) => events.error(error, connection),
    )
  }

  authorize(hook: AuthorizeHook<ServerClient<In, Out, User>>): void {
    this.subscriptions.authorize(hook)
  }

  /** op 30 or op 32. */
  receive(connection: Connection<In, Out, User>, frame: Frame): void {
    this.subscriptions.receive(connection, frame)
  }

  /** A `publication`, `presence` or `subscription` envelope from another server or a dispatcher. */
  receiveEnvelope(envelope: ChannelEnvelope | SubscriptionEnvelope): void {
    if (envelope.kind === 'subscription') {
      this.stored.received(envelope, this.socketsOf)
      this.subscriptions.apply(envelope, this.socketsOf)
    } else {
      this.publications.receive(envelope)
    }
  }

  /** The socket authenticated (op 22 is written): it gets the subscriptions dispatchers keep for its user. */
  authenticated(connection: Connection<In, Out, User>): void {
    this.stored.authenticated(connection)
  }

  resubscribe(connection: Connection<In, Out, User>, requested: ReadonlyMap<string, StreamPosition | undefined>): void {
    this.subscriptions.resubscribe(connection, requested)
  }

  userChanged(connection: Connection<In, Out, User>): void {
    this.subscriptions.userChanged(connection)
  }

  subscribe(connection: Connection<In, Out, User>, channel: string): Promise<void> {
    return this.subscriptions.subscribeFromServer(connection, channel)
  }

  unsubscribe(connection: Connection<In, Out, User>, channel: string): void {
    checkChannel(channel)
    this.subscriptions.unsubscribeFromServer(connection, channel, 'unsubscribed by the server')
  }

  /** The channels the socket is subscribed to (answered ones). */
  of(connection: Connection<In, Out, User>): string[] {
    const subscriptions = this.registry.of(connection)
    if (subscriptions === undefined) return []
    return [...subscriptions.values()].filter((s) => s.state === 'active').map((s) => s.channel)
  }

  closed(connection: Connection<In, Out, User>): void {
    this.subscriptions.closed(connection)
  }

  publish(channel: string, message: Message<string, object>): Promise<void> {
    return this.publications.publish(channel, message)
  }

  async presence(channel: string): Promise<ChannelMembers> {
    checkChannel(channel)
    const adapter = await this.adapter.get()
    return adapter.presence.channelMembers(channel)
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryResult<Message>> {
    checkChannel(channel)
    const problem = historyQueryProblem(query)
    if (problem !== undefined) throw new TypeError(problem)
    const adapter = await this.adapter.get()
    return readHistory(adapter.store, channel, query)
  }

  /**
   * Resolves once what closed sockets left behind reached the adapter: presence left (and announced), channels
   * unfollowed. A closing server waits for this before it leaves the adapter.
   */
  async idle(): Promise<void> {
    await this.channelPresence.idle()
    await this.follows.idle()
  }
}
