import { randomUUID } from 'node:crypto'
import {
  Backoff,
  ConfigError,
  type MessageMap,
  type MessageOf,
  type RequestMap,
  type UntypedRequests,
} from '@mesa/core'
import {
  type Adapter,
  encodeReplyFrame,
  exposedReplyError,
  frameToMessage,
  type PortalConsumer,
  type PortalEvent,
  type ReplyEnvelope,
  type ReplyError,
} from '@mesa/core/server'
import createDebug from 'debug'
import { CollectingEmitter } from './collecting-emitter.js'
import { PortalClosedError, PortalHandlerError } from './errors.js'
import type { PortalDelivery, PortalEventInfo, PortalEvents, PortalReply, RequestOf, UntypedMessages } from './events.js'
import { checkAdapterArgument, type RedisConnection, resolveAdapter } from './resolve-adapter.js'

/** `DEBUG=mesa:portal`: start, retries and stop, and a line per event (checked with `enabled` first). */
const debug = createDebug('mesa:portal')

/** A request event, as the queue gives it. */
type RequestEvent = Extract<PortalEvent, { kind: 'request' }>

/** The answer to a request of a portal that has no `request` listener, and whose `handler` answered nothing. */
function noHandler(type: string | undefined): ReplyError {
  return { code: 'no-handler', message: `no portal handler answers requests of type ${JSON.stringify(type ?? null)}` }
}

/** What the client gets when a listener or the `handler` failed without saying why to it (as from a server). */
const GENERIC_REJECTION: ReplyError = { code: 'rejected', message: 'the request failed' }

export interface PortalOptions<M extends MessageMap<M> = UntypedMessages, R extends RequestMap<R> = UntypedRequests> {
  /**
   * Namespace of the Redis adapter created when the first argument says where Redis is. With an Adapter it
   * may be omitted; when given it must equal the adapter's. Default: the adapter's default namespace.
   */
  namespace?: string
  /**
   * `true`: this portal also gets every event that another portal handles (for logging, metrics). Its own
   * acknowledgement does not stand in for the handling portal's. Default `false`.
   */
  reportAllEvents?: boolean
  /**
   * Unique id of this portal among those sharing the adapter; servers get it in `onPortalJoin` and
   * `onPortalLeave`. Default: a random UUID.
   */
  id?: string
  /**
   * Called for every event after the listeners; the event is acknowledged when the returned promise
   * resolves, and given again (to this portal or another) when it rejects. For a request, its result is the
   * reply when no listener returned one, and a throw or rejection refuses the request (see the `request` event).
   * Default: none (listeners only).
   */
  handler?: (
    delivery: PortalDelivery<M, R>,
  ) => PortalReply | undefined | void | Promise<PortalReply | undefined> | Promise<void>
}

type PortalState = 'starting' | 'ready' | 'closing' | 'closed'

/**
 * Pauses between attempts to start consuming while the adapter fails (Redis unreachable at start): quick at
 * first, then at most 10 s apart, jittered so that many portals restarting together do not retry in step.
 */
const START_BACKOFF = { base: 250, factor: 2, max: 10_000 } as const

/**
 * Receives the client events of every Mesa server that shares the adapter (started with
 * `portal: { enabled: true }`). Load-balanced: each event goes to one portal. At least once: an event counts
 * as done only when its listeners returned without throwing, the promises of async listeners resolved, and
 * `handler` resolved; otherwise, or when the portal dies first, the adapter's queue gives it again, so
 * handling must tolerate repeats.
 *
 * While it consumes, the portal is a member of the queue under its `id`: the adapter registers it when
 * consuming starts (servers call `onPortalJoin`), keeps it alive, and removes it on `close()` or, when the
 * process died, once its liveness lapsed (servers call `onPortalLeave`).
 */
export class Portal<M extends MessageMap<M> = UntypedMessages, R extends RequestMap<R> = UntypedRequests> extends CollectingEmitter<
  PortalEvents<M, R>
> {
  readonly id: string
  private readonly reportAllEvents: boolean
  private readonly handler: PortalOptions<M, R>['handler']
  private state: PortalState = 'starting'
  private adapter: Adapter | undefined
  private ownsAdapter = false
  private consumer: PortalConsumer | undefined
  private readonly started: Promise<void>
  private closing: Promise<void> | undefined
  /** Ends the pause before the next attempt to start consuming, when `close()` is called during it. */
  private cancelRetry: (() => void) | undefined

  /**
   * @param adapterOrRedis an `Adapter` shared with servers (the portal does not close it), or a Redis URL or
   *   connection options (as Mesa 1.x took): the portal then loads `@mesa/redis-adapter`, creates the adapter
   *   and closes it on `close()`.
   */
  constructor(adapterOrRedis: Adapter | RedisConnection, options: PortalOptions<M, R> = {}) {
    super((event, error) => {
      // An async `error` listener that rejects is not reported through `error` again: that could loop.
      if (event !== 'error') this.emit('error', toError(error))
    })
    if (typeof options !== 'object' || options === null) throw new ConfigError('Portal: options must be an object')
    checkAdapterArgument(adapterOrRedis, options.namespace)
    if (options.id !== undefined && (typeof options.id !== 'string' || options.id.length === 0)) {
      throw new ConfigError('Portal: options.id must be a non-empty string')
    }
    if (options.reportAllEvents !== undefined && typeof options.reportAllEvents !== 'boolean') {
      throw new ConfigError('Portal: options.reportAllEvents must be a boolean')
    }
    if (options.handler !== undefined && typeof options.handler !== 'function') {
      throw new ConfigError('Portal: options.handler must be a function')
    }
    this.id = options.id ?? randomUUID()
    this.reportAllEvents = options.reportAllEvents ?? false
    this.handler = options.handler
    this.started = this.start(adapterOrRedis, options.namespace)
    // Failures are reported through `error` and `whenReady()`; an unobserved start must not be an unhandled rejection.
    this.started.catch(() => {})
  }

  /** Resolves once the portal consumes events; rejects when it could not start (e.g. the adapter package is missing). */
  whenReady(): Promise<void> {
    return this.started
  }

  /** True between `ready` and `close()`. */
  get isReady(): boolean {
    return this.state === 'ready'
  }

  /**
   * Stops taking events. Events this portal took but did not finish are given to other portals; an adapter
   * the portal created is closed. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async start(adapterOrRedis: Adapter | RedisConnection, namespace: string | undefined): Promise<void> {
    try {
      const { adapter, owned } = await resolveAdapter(adapterOrRedis, namespace)
      this.adapter = adapter
      this.ownsAdapter = owned
      if (owned) adapter.on('error', this.forwardAdapterError)
      const consumer = await this.consume(adapter)
      this.consumer = consumer
      if (this.state !== 'starting') {
        // close() ran while consume() was pending; it could not see the consumer, so stop it here.
        await consumer.close()
        throw new PortalClosedError()
      }
      this.state = 'ready'
      debug('%s consuming%s', this.id, this.reportAllEvents ? ' (reportAllEvents)' : '')
      this.emit('ready')
    } catch (error) {
      if (!(error instanceof PortalClosedError)) this.emit('error', toError(error))
      throw error
    }
  }

  /**
   * Starts consuming, retrying while the adapter fails (each failure is reported through `error`) until it
   * succeeds or the portal is closed. A `ConfigError` is not retried: the same call would fail again.
   */
  private async consume(adapter: Adapter): Promise<PortalConsumer> {
    const backoff = new Backoff(START_BACKOFF)
    for (;;) {
      if (this.state !== 'starting') throw new PortalClosedError()
      try {
        return await adapter.portal.consume({ consumerId: this.id, reportAllEvents: this.reportAllEvents }, (event) =>
          this.handle(event),
        )
      } catch (error) {
        if (error instanceof ConfigError) throw error
        debug('%s could not start consuming, retrying: %s', this.id, toError(error).message)
        this.emit('error', toError(error))
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoff.next())
        this.cancelRetry = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.cancelRetry = undefined
    }
  }

  private async shutdown(): Promise<void> {
    debug('%s closing', this.id)
    this.state = 'closing'
    this.cancelRetry?.()
    await this.started.catch(() => {})
    const { consumer, adapter } = this
    this.consumer = undefined
    try {
      await consumer?.close()
    } finally {
      if (adapter && this.ownsAdapter) {
        await adapter.close()
        adapter.off('error', this.forwardAdapterError)
      }
      this.state = 'closed'
    }
  }

  private readonly forwardAdapterError = (error: Error): void => {
    this.emit('error', error)
  }

  private async handle(event: PortalEvent): Promise<void> {
    // After close() began, an event must not be acknowledged here: another portal will get it.
    if (this.state === 'closing' || this.state === 'closed') throw new PortalClosedError()
    if (debug.enabled) debug('%s: %s of %s from %s', this.id, event.kind, event.clientId, event.serverId)
    // A portal that only reports events never answers: the portal handling the request does.
    if (event.kind === 'request' && !this.reportAllEvents) return this.answer(event)
    try {
      const { result: delivery, returned } = this.collect(() => this.emitEvent(event))
      // Async listeners are part of the handling: the event is acknowledged once they all resolved.
      if (returned.length > 0) await Promise.all(returned)
      if (this.handler) await this.handler(delivery)
    } catch (cause) {
      throw this.failed(event, cause)
    }
  }

  /**
   * Answers a request: publishes the reply (or the refusal) for the server holding the socket, then acknowledges
   * the event. When publishing fails the event is left for redelivery, so a request may be answered twice (by a
   * later attempt, or by another portal when this one dies after publishing): the server keeps the first answer.
   */
  private async answer(event: RequestEvent): Promise<void> {
    const envelope: ReplyEnvelope = {
      kind: 'reply',
      origin: this.id,
      target: event.serverId,
      socketId: event.clientId,
      requestId: event.requestId,
      ...(await this.reply(event)),
    }
    try {
      await this.adapter!.publish(envelope)
    } catch (cause) {
      throw this.failed(event, cause)
    }
  }

  /**
   * The reply to a request: the first result of its `request` listeners that is not undefined, else the
   * `handler`'s; `{}` when there are listeners and none answered (as a server's handler returning nothing), and
   * `no-handler` when there is none and the `handler` answered nothing. A refusal when one threw: the exposed
   * code and message of a `RequestRejection`, else a generic `rejected` (and the error is reported).
   */
  private async reply(event: RequestEvent): Promise<{ frame: string } | { error: ReplyError }> {
    let result: unknown
    try {
      const { result: delivery, returned } = this.collect(() => this.emitEvent(event))
      result = (await Promise.all(returned)).find((value) => value !== undefined)
      // Called whatever the listeners answered, as for every event; its result counts when theirs was none.
      const handled = this.handler ? await this.handler(delivery) : undefined
      if (result === undefined) result = handled
      if (result === undefined && this.listenerCount('request') === 0) return { error: noHandler(event.frame.t) }
      const frame = encodeReplyFrame(result === undefined ? {} : result, event.frame.t)
      if (frame !== undefined) return { frame }
    } catch (cause) {
      const exposed = exposedReplyError(cause)
      if (exposed !== undefined) return { error: exposed }
      this.failed(event, cause)
      return { error: GENERIC_REJECTION }
    }
    this.failed(event, new TypeError(`a request's reply must be a Message or an object, got ${describe(result)}`))
    return { error: GENERIC_REJECTION }
  }

  /** Reports a failed handling through `error`; returns the error, for the caller to throw when it retries. */
  private failed(event: PortalEvent, cause: unknown): PortalHandlerError {
    const error = new PortalHandlerError(event, cause)
    debug('%s: %s of %s failed: %s', this.id, event.kind, event.clientId, error.message)
    this.emit('error', error)
    return error
  }

  /** Emits the event to its listeners and returns it in the form `handler` takes. */
  private emitEvent(event: PortalEvent): PortalDelivery<M, R> {
    const info: PortalEventInfo = { serverId: event.serverId, time: event.time }
    switch (event.kind) {
      case 'connection':
        this.emit('connection', event.clientId, info)
        return { kind: 'connection', clientId: event.clientId, ...info }
      case 'authentication':
        this.emit('authentication', event.userId, event.clientId, info)
        return { kind: 'authentication', clientId: event.clientId, userId: event.userId, ...info }
      case 'message': {
        // The frame was validated by the server that read it; its data is the client's and is not checked against M.
        const message = frameToMessage(event.frame) as MessageOf<M>
        this.emit('message', message, event.userId, event.clientId, info)
        return { kind: 'message', clientId: event.clientId, userId: event.userId, message, ...info }
      }
      case 'disconnection':
        this.emit('disconnection', event.userId, event.clientId, info)
        return { kind: 'disconnection', clientId: event.clientId, userId: event.userId, ...info }
      case 'subscribe':
      case 'unsubscribe':
        this.emit(event.kind, event.channel, event.userId, event.clientId, info)
        return { kind: event.kind, clientId: event.clientId, userId: event.userId, channel: event.channel, ...info }
      case 'request': {
        // As for messages: validated by the server, the client's data, not checked against R.
        const request = frameToMessage(event.frame) as RequestOf<R>
        this.emit('request', request, event.userId, event.clientId, info)
        return { kind: 'request', clientId: event.clientId, userId: event.userId, requestId: event.requestId, request, ...info }
      }
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  return Array.isArray(value) ? 'an array' : typeof value
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value))
}
