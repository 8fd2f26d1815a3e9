import {
  CloseCode,
  type Frame,
  isStreamPosition,
  type MessageMap,
  Opcode,
  ProtocolError,
  type ResyncReason,
  type StreamPosition,
} from '@mesa/core'
import type { StoredEntry, SubscriptionEnvelope } from '@mesa/core/server'
import type { AdapterHandle } from '../adapter-handle.js'
import type { SubscribeRateOptions } from '../options.js'
import { ChannelError, toError } from '../errors.js'
import { TokenBucket } from '../rate-limit.js'
import { channelKey } from '../redelivery.js'
import type { ServerClient } from '../server-client.js'
import type { ServerConnection, ServerEvents } from '../server-events.js'
import type { MesaStats } from '../stats.js'
import { untilRead } from '../store-retry.js'
import { type AuthorizeHook, runAuthorizeHook } from './authorize.js'
import { answer, errorFrame, refuse, replyFrame, requestIdOf } from '../requests/reply-frames.js'
import { type SubscribedAnswer, subscribedFrame, unsubscribedFrame } from './channel-frames.js'
import type { ChannelPresence } from './channel-presence.js'
import type { ChannelRegistry, Subscription } from './channel-registry.js'
import type { ChannelRules } from './channel-rules.js'
import { checkChannel } from './publications.js'

/** The options of `resolveConfig` the flow reads. */
export interface SubscriptionSettings {
  /** `channels.maxPerConnection`. */
  maxPerConnection: number
  /** `channels.subscribeRate`; undefined: no limit. */
  subscribeRate: Required<SubscribeRateOptions> | undefined
  /** `authentication.required`: unauthenticated sockets may not subscribe themselves. */
  authenticationRequired: boolean
  /** `sync.redeliveryInterval`: ms between replayed publications. */
  redeliveryInterval: number
}

/**
 * Who asked: the client (op 30, answered by op 31 or op 41), the client through op 2's `x.ch` after a reconnect
 * (answered by op 31 or op 33), or the server (the application, a dispatcher: op 31 `srv`, no authorize hook).
 */
type Source = 'client' | 'resubscription' | 'server'

interface SubscribeRequest {
  channel: string
  source: Source
  /** op 30's `x.id`. */
  id?: number
  /** Where the client's position in the channel is: it resumes after it. */
  since?: StreamPosition
  /** op 30's `d`, for the authorize hook. */
  params: Record<string, unknown>
}

/** Where a subscription starts in its channel's stream. */
interface Start {
  /** The stream's head (op 31's `pos`); undefined when the channel keeps no history. */
  head?: StreamPosition
  /** The socket's position to deliver from. */
  cursor?: StreamPosition
  recovered: boolean
  reason?: ResyncReason
  /** What the client missed, to replay. */
  entries: StoredEntry[]
}

/**
 * Op 2's `x.ch`: the channels a reconnecting client resubscribes to, each with its position (`null`: none).
 * Undefined when there is none; a `ProtocolError` when it is malformed.
 */
export function readResubscriptions(x: Record<string, unknown> | undefined): Map<string, StreamPosition | undefined> | undefined | ProtocolError {
  const ch = x?.ch
  if (ch === undefined) return undefined
  const malformed = new ProtocolError('invalid-frame', CloseCode.InvalidFrame, 'op 2 x.ch must map channels to a position { epoch, seq } or null')
  if (typeof ch !== 'object' || ch === null || Array.isArray(ch)) return malformed
  const requested = new Map<string, StreamPosition | undefined>()
  for (const [channel, since] of Object.entries(ch)) {
    if (since !== null && !isStreamPosition(since)) return malformed
    requested.set(channel, since === null ? undefined : { epoch: since.epoch, seq: since.seq })
  }
  return requested
}

/**
 * The subscription flow, for every way a socket subscribes: checks (name, duplicate, `maxPerConnection`,
 * `subscribeRate`), the authorize hook for what the client asked (guarded: sync, async, throwing, rejecting),
 * then the registry (following the channel on the adapter), the channel's history (a resume is all or nothing)
 * and presence, the answer, the replay, and live delivery. A subscription can end at any step (the client
 * unsubscribes, the socket closes): each step checks it is still the socket's before going on, and what it set
 * up is undone.
 */
export class Subscriptions<In extends MessageMap<In>, Out extends MessageMap<Out>, User> {
  private hook: AuthorizeHook<ServerClient<In, Out, User>> | undefined
  /** Each socket's subscribe rate (created on its first subscription; no timer). */
  private readonly rates = new WeakMap<ServerConnection<In, Out, User>, TokenBucket>()

  constructor(
    private readonly settings: SubscriptionSettings,
    private readonly registry: ChannelRegistry<ServerConnection<In, Out, User>>,
    private readonly rules: ChannelRules,
    private readonly presence: ChannelPresence,
    private readonly adapter: AdapterHandle,
    private readonly events: ServerEvents<In, Out, User>,
    private readonly stats: MesaStats,
  ) {}

  private readonly report = (error: Error, connection: ServerConnection<In, Out, User>): void => this.events.error(error, connection)

  /** `mesa.channels.authorize(hook)`: from now on clients may subscribe where it allows. */
  authorize(hook: AuthorizeHook<ServerClient<In, Out, User>>): void {
    if (typeof hook !== 'function') throw new TypeError('channels.authorize() takes a function (client, channel, params) => boolean')
    this.hook = hook
  }

  /** op 30 or op 32 from a protocol 2 socket. */
  receive(connection: ServerConnection<In, Out, User>, frame: Frame): void {
    const id = requestIdOf(frame)
    if (id === undefined) {
      refuse(connection, `op ${frame.op} needs x.id, a positive integer`, this.report)
      return
    }
    const channel = frame.t ?? ''
    if (frame.op === Opcode.Unsubscribe) {
      this.clientUnsubscribe(connection, channel, id)
      return
    }
    const since = frame.x?.since
    if (since !== undefined && !isStreamPosition(since)) {
      refuse(connection, 'op 30 x.since must be a position { epoch, seq }', this.report)
      return
    }
    const request: SubscribeRequest = { channel, source: 'client', id, params: frame.d }
    if (since !== undefined) request.since = { epoch: since.epoch, seq: since.seq }
    this.subscribe(connection, request).catch((error: unknown) => this.refuse(connection, request, error))
  }

  /** Op 2's `x.ch`, once op 22 is written: each channel is answered by op 31, or op 33 when refused. */
  resubscribe(connection: ServerConnection<In, Out, User>, requested: ReadonlyMap<string, StreamPosition | undefined>): void {
    for (const [channel, since] of requested) {
      const request: SubscribeRequest = { channel, source: 'resubscription', params: {} }
      if (since !== undefined) request.since = since
      this.subscribe(connection, request).catch((error: unknown) => this.refuse(connection, request, error))
    }
  }

  /**
   * `client.subscribe(channel)`: a server-side subscription (no authorize hook). Resolves once it is set up
   * (at once when the socket has the channel already); rejects with `ChannelError`.
   */
  subscribeFromServer(connection: ServerConnection<In, Out, User>, channel: string): Promise<void> {
    return this.subscribe(connection, { channel, source: 'server', params: {} })
  }

  /** `client.unsubscribe(channel)`, or a dispatcher: ends the subscription, op 33 with `reason` for protocol 2. */
  unsubscribeFromServer(connection: ServerConnection<In, Out, User>, channel: string, reason: string): void {
    const subscription = this.registry.get(connection, channel)
    if (subscription === undefined) return
    const answered = subscription.state === 'active'
    this.end(connection, subscription)
    if (answered && connection.protocol === 2) connection.write(unsubscribedFrame(channel, reason))
  }

  /** A `subscription` envelope (a dispatcher): applied to every socket of those users on this server. */
  apply(envelope: SubscriptionEnvelope, socketsOf: (userId: string) => Iterable<ServerConnection<In, Out, User>> | undefined): void {
    const { channel, subscribe } = envelope
    for (const userId of envelope.userIds) {
      for (const connection of socketsOf(userId) ?? []) {
        if (!subscribe) this.unsubscribeFromServer(connection, channel, 'unsubscribed by the server')
        else this.subscribeFromServer(connection, channel).catch((error: unknown) => this.events.error(toError(error), connection))
      }
    }
  }

  /**
   * The socket authenticated again as another user: what the client subscribed to was authorized for the user
   * it was, so those subscriptions end (op 33). The server's stay: the application decides about them.
   */
  userChanged(connection: ServerConnection<In, Out, User>): void {
    for (const subscription of [...(this.registry.of(connection)?.values() ?? [])]) {
      if (!subscription.server) this.unsubscribeFromServer(connection, subscription.channel, 'authenticated as another user')
    }
  }

  /** The socket closed: its subscriptions end (presence left, `unsubscribe` events). */
  closed(connection: ServerConnection<In, Out, User>): void {
    for (const subscription of this.registry.removeAll(connection)) {
      this.presence.leave(connection, subscription)
      if (subscription.state === 'active') this.events.unsubscribed(connection, subscription.channel)
    }
  }

  private async subscribe(connection: ServerConnection<In, Out, User>, request: SubscribeRequest): Promise<void> {
    const { channel, source } = request
    checkChannel(channel)
    if (connection.closing || connection.closed) throw new ChannelError('unavailable', 'the connection closed')
    if (this.registry.get(connection, channel) !== undefined) {
      if (source === 'client') throw new ChannelError('already-subscribed', `already subscribed to ${channel}`)
      // The server (or a resubscription) asks for what the socket has: nothing to do.
      return
    }
    const max = this.settings.maxPerConnection
    if (this.registry.count(connection) >= max) throw new ChannelError('too-many-channels', `at most ${max} channels per connection`)
    if (source === 'client' && !this.takeRate(connection)) {
      this.stats.rateLimited++
      throw new ChannelError('rate-limited', 'subscribing too fast (channels.subscribeRate)')
    }
    const subscription: Subscription = { channel, key: channelKey(channel), server: source === 'server', state: 'subscribing', presence: undefined }
    this.registry.reserve(connection, subscription)
    try {
      await this.start(connection, subscription, request)
    } catch (error) {
      this.abandon(connection, subscription)
      throw error
    }
  }

  private async start(connection: ServerConnection<In, Out, User>, subscription: Subscription, request: SubscribeRequest): Promise<void> {
    const { channel, key } = subscription
    let counted = true
    if (request.source !== 'server') {
      // Pipelined right after op 2, op 30 waits for the authentication: the hook sees who the client is.
      if (request.source === 'client' && connection.authenticationSettled !== undefined) await connection.authenticationSettled
      this.ensureCurrent(connection, subscription)
      counted = (await this.authorized(connection, channel, request.params)).presence !== false
      this.ensureCurrent(connection, subscription)
    }
    const v2 = connection.protocol === 2
    // Protocol 2: the channel's frames wait until its history is replayed. Mesa 1.x: no history, frames go live.
    connection.delivery.follow(key, v2)
    await this.untilItWorks(connection, subscription, () => this.registry.receive(connection, subscription))
    const [start] = await Promise.all([
      v2 ? this.readStart(connection, subscription, request.since) : undefined,
      this.presence.join(connection, subscription, counted),
    ])
    this.ensureCurrent(connection, subscription)
    this.registry.activate(subscription)
    if (start !== undefined) {
      const answer: SubscribedAnswer = { pos: start.head, recovered: start.recovered, reason: start.reason }
      if (request.source === 'client') answer.re = request.id!
      if (request.source === 'server') answer.srv = true
      connection.write(subscribedFrame(channel, answer))
      connection.delivery.startStream(key, start.cursor)
    }
    this.events.subscribed(connection, channel)
    if (start === undefined) return
    this.stats.replays += await connection.delivery.replay(key, start.entries, this.settings.redeliveryInterval)
    if (this.registry.get(connection, channel) === subscription) connection.delivery.releaseStream(key)
  }

  private async authorized(connection: ServerConnection<In, Out, User>, channel: string, params: Record<string, unknown>): Promise<{ presence?: boolean }> {
    if (this.settings.authenticationRequired && !connection.authenticated) {
      throw new ChannelError('forbidden', 'authenticate before subscribing')
    }
    const hook = this.hook
    if (hook === undefined) throw new ChannelError('forbidden', 'client-side subscriptions are not enabled on this server')
    return runAuthorizeHook(hook, connection.client, channel, params, (error) => this.events.error(error, connection))
  }

  /**
   * The stream position the subscription starts from: the head, or (resuming) the client's position with every
   * publication after it, all or nothing. A channel without history has no position.
   *
   * While the store cannot be read the subscription waits (its stream held, within the socket's bound) and the
   * read is tried again (`untilRead`: 100 ms apart, doubling up to 2 s) until it answers or the
   * subscription ends; the first failure is reported. Going live without a position instead would leave the
   * client deduplicating by the position it kept against frames nobody checks: a history the store lost
   * meanwhile (a Redis restarted empty) would then hide its first publications from the client.
   */
  private async readStart(connection: ServerConnection<In, Out, User>, subscription: Subscription, since: StreamPosition | undefined): Promise<Start> {
    const { channel, key } = subscription
    if (!this.rules.for(channel).history) {
      // Nothing is kept: a position (from when the rule was otherwise) cannot be resumed.
      return since === undefined ? { recovered: true, entries: [] } : { recovered: false, reason: 'trimmed', entries: [] }
    }
    return this.untilItWorks(connection, subscription, async () => {
      const { store } = await this.adapter.get()
      if (since === undefined) {
        const head = await store.head(key)
        return { head, cursor: head, recovered: true, entries: [] }
      }
      const result = await store.readAfter(key, since)
      if (result.status !== 'ok') return { head: result.head, cursor: result.head, recovered: false, reason: result.status, entries: [] }
      return { head: result.head, cursor: { epoch: result.head.epoch, seq: since.seq }, recovered: true, entries: result.entries }
    })
  }

  /**
   * Runs an adapter step of a subscription (following its channel, reading its start) until it succeeds or the
   * subscription ends (`untilRead`: tried again from 100 ms apart, doubling up to 2 s; the first failure reported).
   * A Redis outage delays subscriptions rather than refusing them, so a client's subscriptions outlive it.
   */
  private async untilItWorks<T>(
    connection: ServerConnection<In, Out, User>,
    subscription: Subscription,
    step: () => Promise<T>,
  ): Promise<T> {
    const read = await untilRead(step, {
      sleep: (ms) => connection.delivery.sleep(ms),
      report: (error) => this.events.error(toError(error), connection),
      wanted: () => this.ended(connection, subscription) === undefined,
    })
    this.ensureCurrent(connection, subscription)
    // Given up only when the subscription ended, which `ensureCurrent` has just thrown for: it does not come back.
    return read!.value
  }

  /** Throws when the subscription ended (unsubscribed, or the socket is closing) while it was being set up. */
  private ensureCurrent(connection: ServerConnection<In, Out, User>, subscription: Subscription): void {
    const ended = this.ended(connection, subscription)
    if (ended) throw ended
  }

  /** Why the subscription ended while it was being set up, if it did. */
  private ended(connection: ServerConnection<In, Out, User>, subscription: Subscription): ChannelError | undefined {
    if (connection.closing || connection.closed) return new ChannelError('unavailable', 'the connection closed')
    if (this.registry.get(connection, subscription.channel) !== subscription) {
      return new ChannelError('unavailable', `unsubscribed from ${subscription.channel} while subscribing`)
    }
    return undefined
  }

  /** Undoes what a subscription that failed while being set up did. */
  private abandon(connection: ServerConnection<In, Out, User>, subscription: Subscription): void {
    if (this.registry.get(connection, subscription.channel) === subscription) {
      this.registry.remove(connection, subscription.channel)
      connection.delivery.unfollow(subscription.key)
    }
    this.presence.leave(connection, subscription)
  }

  private end(connection: ServerConnection<In, Out, User>, subscription: Subscription): void {
    this.registry.remove(connection, subscription.channel)
    connection.delivery.unfollow(subscription.key)
    this.presence.leave(connection, subscription)
    if (subscription.state === 'active') this.events.unsubscribed(connection, subscription.channel)
  }

  private clientUnsubscribe(connection: ServerConnection<In, Out, User>, channel: string, id: number): void {
    const subscription = this.registry.get(connection, channel)
    if (subscription === undefined) {
      answer(connection, errorFrame(id, 'not-subscribed', `not subscribed to ${channel}`))
    } else if (subscription.server) {
      answer(connection, errorFrame(id, 'forbidden', 'a server-side subscription is ended by the server'))
    } else {
      this.end(connection, subscription)
      answer(connection, replyFrame(id))
    }
  }

  /** Tells the client why its subscription failed; an unexpected failure is reported and told as `unavailable`. */
  private refuse(connection: ServerConnection<In, Out, User>, request: SubscribeRequest, error: unknown): void {
    let failure: ChannelError
    if (error instanceof ChannelError) failure = error
    else {
      this.events.error(toError(error), connection)
      failure = new ChannelError('unavailable', 'the subscription could not be set up')
    }
    if (request.source === 'client') answer(connection, errorFrame(request.id!, failure.code, failure.message))
    else answer(connection, unsubscribedFrame(request.channel, failure.message, failure.code))
  }

  private takeRate(connection: ServerConnection<In, Out, User>): boolean {
    const rate = this.settings.subscribeRate
    if (rate === undefined) return true
    const now = performance.now()
    let bucket = this.rates.get(connection)
    if (bucket === undefined) {
      bucket = new TokenBucket(rate.perSecond, rate.burst, now)
      this.rates.set(connection, bucket)
    }
    return bucket.takeOne(now)
  }
}
