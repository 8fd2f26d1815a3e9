import { randomUUID } from 'node:crypto'
import {
  type ChannelMap,
  ConfigError,
  Message,
  type MessageMap,
  type MessageOf,
  Opcode,
  type PublicationOf,
} from '@mesa/core'
import {
  type Adapter,
  channelNameProblem,
  type DisconnectEnvelope,
  InternalType,
  prepareDispatch,
  preparePublication,
  type SubscriptionEnvelope,
  userIdsProblem,
} from '@mesa/core/server'
import createDebug from 'debug'
import { type DisconnectOptions, DispatchEvent } from './dispatch-event.js'
import { ChannelLimitError, DispatchError, DispatcherClosedError } from './errors.js'
import { checkAdapterArgument, type RedisConnection, type ResolvedAdapter, resolveAdapter } from './resolve-adapter.js'

/** `DEBUG=mesa:dispatcher`: a line per send and disconnect (checked with `enabled` first), and the close. */
const debug = createDebug('mesa:dispatcher')

export interface DispatcherSyncOptions {
  /** Store synced messages for redelivery before publishing them. Default `false`. */
  enabled?: boolean
}

export interface DispatcherOptions {
  /**
   * Namespace of the Redis adapter created when the first argument says where Redis is. With an Adapter it
   * may be omitted; when given it must equal the adapter's. Default: the adapter's default namespace.
   */
  namespace?: string
  /**
   * `true` (or `{ enabled: true }`, as in Mesa 1.x): each message whose `options.sync` is not `false` is
   * appended to the redelivery store before it is published, so users who are offline, or whose socket is
   * dying, get it when they authenticate again. Use it when the servers run with `sync: { enabled: true }`.
   * Default `false`.
   */
  sync?: boolean | DispatcherSyncOptions
  /** Origin id put on published envelopes. Default: `dispatcher-` and a random UUID. */
  id?: string
  /**
   * Most channels `subscribe` keeps per user in the adapter (the subscriptions every socket of the user gets when
   * it authenticates): a user subscribed to this many is not subscribed to another (`ChannelLimitError`) until one
   * is removed. Default 128 (the server's default `channels.maxPerConnection`).
   */
  maxChannelsPerUser?: number
}

/** Default of `maxChannelsPerUser`. */
export const DEFAULT_MAX_CHANNELS_PER_USER = 128

/** What `dispatch` accepts: a message of the map `M`, or an instruction for servers. */
export type Dispatchable<M extends MessageMap<M> = MessageMap> = MessageOf<M> | DispatchEvent

function resolveSync(sync: DispatcherOptions['sync']): boolean {
  if (sync === undefined) return false
  if (typeof sync === 'boolean') return sync
  if (typeof sync === 'object' && sync !== null) {
    if (sync.enabled !== undefined && typeof sync.enabled !== 'boolean') {
      throw new ConfigError('Dispatcher: options.sync.enabled must be a boolean')
    }
    return sync.enabled ?? false
  }
  throw new ConfigError('Dispatcher: options.sync must be a boolean or { enabled: boolean }')
}

/** The rule `mesa.send` applies too (`userIdsProblem`), with this package's error. */
function checkUserIds(what: string, ids: unknown, allowEveryone = true): asserts ids is readonly string[] {
  const problem = userIdsProblem(what, ids, allowEveryone)
  if (problem !== undefined) throw new DispatchError('invalid-recipients', problem)
}

function checkChannel(channel: unknown): asserts channel is string {
  const problem = channelNameProblem(channel)
  if (problem !== undefined) throw new DispatchError('invalid-channel', problem)
}

/**
 * Sends messages to Mesa clients from anywhere in a backend: the message goes through the adapter to every
 * server sharing it, and each delivers it to its own sockets. `dispatch` resolves once the message is stored
 * (with `sync`) and published; it rejects when either failed, so a caller knows the message may not arrive.
 */
/** The channel map used when none is given: any channel, any message. */
type AnyChannels = { [channel: string]: MessageMap }

export class Dispatcher<M extends MessageMap<M> = MessageMap, C extends ChannelMap<C> = AnyChannels> {
  readonly id: string
  private readonly sync: boolean
  private readonly maxChannelsPerUser: number
  private readonly adapter: Promise<ResolvedAdapter>
  private closing: Promise<void> | undefined
  private readonly inFlight = new Set<Promise<unknown>>()

  /**
   * @param adapterOrRedis an `Adapter` shared with servers (the dispatcher does not close it), or a Redis URL or
   *   connection options (as Mesa 1.x took): the dispatcher then loads `@mesa/redis-adapter`, creates the adapter
   *   and closes it on `close()`.
   */
  constructor(adapterOrRedis: Adapter | RedisConnection, options: DispatcherOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new ConfigError('Dispatcher: options must be an object')
    checkAdapterArgument(adapterOrRedis, options.namespace)
    if (options.id !== undefined && (typeof options.id !== 'string' || options.id.length === 0)) {
      throw new ConfigError('Dispatcher: options.id must be a non-empty string')
    }
    this.id = options.id ?? `dispatcher-${randomUUID()}`
    this.sync = resolveSync(options.sync)
    const max = options.maxChannelsPerUser ?? DEFAULT_MAX_CHANNELS_PER_USER
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new ConfigError('Dispatcher: options.maxChannelsPerUser must be a positive integer')
    }
    this.maxChannelsPerUser = max
    this.adapter = resolveAdapter(adapterOrRedis, options.namespace)
    // Failures surface from dispatch() and whenReady(); one nobody awaited must not be an unhandled rejection.
    this.adapter.catch(() => {})
  }

  /** Resolves once the adapter is available; rejects when it could not be created (e.g. the package is missing). */
  async whenReady(): Promise<void> {
    await this.adapter
  }

  /**
   * Sends a message, or performs a `DispatchEvent`.
   *
   * @param recipients user ids; `['*']` (default) means every authenticated user. An empty list sends nothing.
   * @param excluding user ids that must not get it.
   */
  async dispatch(
    event: Dispatchable<M>,
    recipients: readonly string[] = ['*'],
    excluding?: readonly string[],
  ): Promise<void> {
    checkUserIds('recipients', recipients)
    if (excluding !== undefined) checkUserIds('excluding', excluding)
    const targets = () => (excluding === undefined ? recipients : recipients.filter((id) => !excluding.includes(id)))
    if (event instanceof DispatchEvent) return this.disconnect(targets(), event.data)
    if (!(event instanceof Message)) {
      throw new DispatchError('invalid-message', 'dispatch() takes a Message or a DispatchEvent')
    }
    if (event.opcode === Opcode.Internal) {
      // Mesa 1.x code sends `new Message(5, {}, 'DISCONNECT_CLIENT')`, which its servers performed.
      if (event.type === InternalType.DisconnectClient) return this.disconnect(targets())
      throw new DispatchError('invalid-message', `opcode 5 carries only ${InternalType.DisconnectClient}`)
    }
    if (recipients.length === 0) return
    if (debug.enabled) debug('%s: %s to %s', this.id, event.type, recipients[0] === '*' ? 'everyone' : `${recipients.length} users`)
    return this.track(async (adapter) => {
      const envelope = await prepareDispatch(adapter, event, recipients, excluding, {
        sync: this.sync,
        origin: this.id,
      })
      await adapter.publish(envelope)
    })
  }

  /**
   * Closes every socket of these users on every server (Mesa 1.x `DISCONNECT_CLIENT`). By default they get
   * close code 4004, after which Mesa clients do not reconnect on their own.
   */
  async disconnect(userIds: readonly string[], options: DisconnectOptions = {}): Promise<void> {
    checkUserIds('DISCONNECT_CLIENT user ids', userIds, false)
    const { code, reason } = new DispatchEvent('DISCONNECT_CLIENT', options).data
    if (userIds.length === 0) return
    const envelope: DisconnectEnvelope = { kind: 'disconnect', origin: this.id, userIds: [...userIds] }
    if (code !== undefined) envelope.code = code
    if (reason !== undefined) envelope.reason = reason
    debug('%s: disconnect %d users', this.id, userIds.length)
    return this.track((adapter) => adapter.publish(envelope))
  }

  /**
   * Publishes a message on a channel: every socket subscribed to it, on every server, gets it. With `sync`, a
   * message whose `options.sync` is not `false` is first appended to the channel's stream (once, whatever the
   * number of subscribers), so subscribers resume it after a reconnect and late joiners read it in the history;
   * publish to a channel whose server rule keeps no history with `{ sync: false }`. Resolves once it was stored and
   * published; rejects like `dispatch` (`DispatchError` coded `invalid-channel` or `invalid-message`,
   * `StoreError`: nothing was published, `AdapterError`: it was stored but not published).
   */
  async publish<Channel extends keyof C & string>(channel: Channel, message: PublicationOf<C, Channel>): Promise<void> {
    checkChannel(channel)
    // Typed by the map, but callers without types (or with casts) may pass anything.
    const publication: unknown = message
    if (!(publication instanceof Message) || publication.opcode !== Opcode.Dispatch) {
      throw new DispatchError('invalid-message', 'publish() takes a Message of opcode 0')
    }
    if (debug.enabled) debug('%s: %s on channel %s', this.id, publication.type, channel)
    return this.track(async (adapter) => {
      const { envelope, published } = await preparePublication(adapter, channel, publication, { origin: this.id, store: this.sync })
      if (!published) await adapter.publish(envelope)
    })
  }

  /**
   * Subscribes every socket of these users, on every server, to the channel, and remembers it in the adapter so
   * that their sockets authenticating later get it too (until `unsubscribe`). The servers announce it to
   * protocol 2 clients (op 31) and deliver the channel's publications to 1.x sockets as plain messages.
   * Idempotent. Rejects with `DispatchError` (`invalid-recipients`: not user ids, or `'*'`; `invalid-channel`),
   * `ChannelLimitError` naming the users who hold `maxChannelsPerUser` channels already (the others were
   * subscribed), or `AdapterError` (when it came from publishing, the subscription was remembered: sockets get it
   * when they authenticate next; calling again is safe).
   */
  async subscribe<Channel extends keyof C & string>(userIds: readonly string[], channel: Channel): Promise<void> {
    const ids = this.subscribers('subscribe', userIds, channel)
    if (ids === undefined) return
    return this.track(async (adapter) => {
      // Remembered before it is announced: a socket authenticating in between reads it from the adapter.
      const full = await adapter.userChannels.add(channel, ids, this.maxChannelsPerUser)
      const refused = new Set(full)
      const subscribed = refused.size === 0 ? ids : ids.filter((id) => !refused.has(id))
      if (subscribed.length > 0) await adapter.publish(this.subscription(subscribed, channel, true))
      if (refused.size > 0) throw new ChannelLimitError(channel, full, this.maxChannelsPerUser)
    })
  }

  /**
   * Unsubscribes every socket of these users from the channel, on every server, and forgets the subscription in
   * the adapter. Idempotent. Rejects like `subscribe`.
   */
  async unsubscribe<Channel extends keyof C & string>(userIds: readonly string[], channel: Channel): Promise<void> {
    const ids = this.subscribers('unsubscribe', userIds, channel)
    if (ids === undefined) return
    return this.track(async (adapter) => {
      await adapter.userChannels.remove(channel, ids)
      await adapter.publish(this.subscription(ids, channel, false))
    })
  }

  /** The channels `subscribe` keeps for the user (any dispatcher's, in no particular order). */
  async channelsOf(userId: string): Promise<string[]> {
    checkUserIds('channelsOf() user id', [userId], false)
    return this.track((adapter) => adapter.userChannels.channelsOf(userId))
  }

  /**
   * Sends nothing more: later calls reject with `DispatcherClosedError`. Sends already under way finish
   * first; then an adapter the dispatcher created is closed. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  /**
   * Runs a send once the adapter is available. Called synchronously from `dispatch`/`disconnect`, so a send
   * begun before `close()` is tracked and finishes; `close()` waits for it before closing an owned adapter.
   */
  private track<T>(send: (adapter: Adapter) => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new DispatcherClosedError())
    const running = this.adapter.then(({ adapter }) => send(adapter))
    this.inFlight.add(running)
    const forget = () => {
      this.inFlight.delete(running)
    }
    running.then(forget, forget)
    return running
  }

  /** Checks the arguments of a subscription change; the distinct user ids, or undefined when there are none. */
  private subscribers(change: 'subscribe' | 'unsubscribe', userIds: readonly string[], channel: string): string[] | undefined {
    checkUserIds(`${change}() user ids`, userIds, false)
    checkChannel(channel)
    if (userIds.length === 0) return undefined
    const ids = [...new Set(userIds)]
    debug('%s: %s %d users, channel %s', this.id, change, ids.length, channel)
    return ids
  }

  private subscription(userIds: string[], channel: string, subscribe: boolean): SubscriptionEnvelope {
    return { kind: 'subscription', origin: this.id, userIds, channel, subscribe }
  }

  private async shutdown(): Promise<void> {
    debug('%s closing, %d sends under way', this.id, this.inFlight.size)
    await Promise.allSettled([...this.inFlight])
    let resolved: ResolvedAdapter
    try {
      resolved = await this.adapter
    } catch {
      return
    }
    if (resolved.owned) await resolved.adapter.close()
  }
}
