import type { Message, MessageMap } from '@mesa/core'
import { ServerError, toError } from './errors.js'
import { type Failure, firstFailure, isThenable, settle } from './guarded-emitter.js'
import type { ServerClient } from './server-client.js'

type AnyMessage = Message<string, object>

/**
 * Hooks into the server's events (the handler names of Mesa 1.x). Every handler is optional; one that throws
 * or rejects is reported through the server's `error` event and the others still run.
 */
export interface MiddlewareHandlers<
  In extends MessageMap<In> = MessageMap,
  Out extends MessageMap<Out> = MessageMap,
  User = unknown,
  Client = ServerClient<In, Out, User>,
> {
  onConnection?(client: Client): void | Promise<void>
  onDisconnection?(client: Client, code: number, reason: string): void | Promise<void>
  /**
   * A portal (its `id`) started consuming the adapter's portal queue: on every server sharing the adapter, for
   * each portal already running when the hook is added, then for each that starts.
   */
  onPortalJoin?(id: string): void | Promise<void>
  /**
   * That portal stopped: it closed, or it died and its liveness lapsed (on Redis within the adapter's
   * `portal.memberTtlMs`). Follows that portal's `onPortalJoin` on this server.
   */
  onPortalLeave?(id: string): void | Promise<void>
  /** A synced targeted message was stored for users that were offline (what 1.x clients get back on `shouldSync`). */
  onUndeliverableMessageSent?(message: AnyMessage, userIds: string[]): void | Promise<void>
  /** Stored messages are being replayed to a client that authenticated (1.x backlog or a protocol 2 resume). */
  onRedeliverUndeliverableMessages?(messages: AnyMessage[], client: Client): void | Promise<void>
  /** A message was written to these local clients; `fromCurrentReplica`: it was sent through this server. */
  onMessageSent?(message: AnyMessage, clients: Client[], fromCurrentReplica: boolean): void | Promise<void>
  onMessageReceived?(message: AnyMessage, client: Client): void | Promise<void>
  onAuthenticated?(client: Client): void | Promise<void>
  /** A client subscribed to a channel (asked by the client, the application or a dispatcher). */
  onSubscribe?(client: Client, channel: string): void | Promise<void>
  /** A client's subscription to a channel ended (unsubscribed by either side, or the socket closed). */
  onUnsubscribe?(client: Client, channel: string): void | Promise<void>
  onError?(error: Error, client?: Client): void | Promise<void>
}

export type MiddlewareEvent = keyof MiddlewareHandlers

type Args<C, K extends MiddlewareEvent> = Parameters<NonNullable<MiddlewareHandlers<MessageMap, MessageMap, unknown, C>[K]>>

/** Runs the handlers registered with `use`, isolating the server from their failures. */
export class MiddlewareChain<C> {
  private readonly handlers: MiddlewareHandlers<MessageMap, MessageMap, unknown, C>[] = []

  /** `report` surfaces a handler's failure (the server's `error` event); it must not throw. */
  constructor(private readonly report: (error: Error, client?: C) => void) {}

  add(handlers: MiddlewareHandlers<MessageMap, MessageMap, unknown, C>): void {
    this.handlers.push(handlers)
  }

  /** Whether any handler listens to `event`: callers skip building arguments nobody reads. */
  has(event: MiddlewareEvent): boolean {
    for (const handlers of this.handlers) if (typeof handlers[event] === 'function') return true
    return false
  }

  run<K extends MiddlewareEvent>(event: K, ...args: Args<C, K>): void {
    for (const handlers of this.handlers) {
      const handler = handlers[event] as ((...a: Args<C, K>) => unknown) | undefined
      if (typeof handler !== 'function') continue
      try {
        const result = handler.apply(handlers, args)
        if (isThenable(result)) result.then(undefined, (error: unknown) => this.failed(event, error, args))
      } catch (error) {
        this.failed(event, error, args)
      }
    }
  }

  /** `run`, resolving once every handler finished (their promises settled) with the first failure. Never rejects. */
  runSettled<K extends MiddlewareEvent>(event: K, ...args: Args<C, K>): Promise<Failure | undefined> {
    const runs: Promise<Failure | undefined>[] = []
    for (const handlers of this.handlers) {
      const handler = handlers[event] as ((...a: Args<C, K>) => unknown) | undefined
      if (typeof handler !== 'function') continue
      runs.push(settle(() => handler.apply(handlers, args), (error) => this.failed(event, error, args)))
    }
    return firstFailure(runs)
  }

  private failed<K extends MiddlewareEvent>(event: K, error: unknown, args: Args<C, K>): void {
    const client = event === 'onError' ? (args[1] as C | undefined) : undefined
    const wrapped =
      event === 'onError'
        ? toError(error)
        : new ServerError('handler-failed', `middleware ${event} failed: ${toError(error).message}`, { cause: error })
    this.report(wrapped, client)
    // An onError handler that fails is reported once, not fed back to onError.
    if (event !== 'onError') this.run('onError', wrapped, client)
  }
}
