import type { Frame, Message, MessageMap, MessageOf } from '@mesa/core'
import { encodeMessage, frameToMessage, type PortalEvent, parseFrame } from '@mesa/core/server'
import type { AdapterHandle } from './adapter-handle.js'
import type { Connection } from './connection.js'
import { toError } from './errors.js'
import { type Failure, firstFailure, type GuardedEmitter } from './guarded-emitter.js'
import { debugMessages, type ServerLog } from './logging.js'
import type { MiddlewareChain } from './middleware.js'
import type { ServerClient } from './server-client.js'

type AnyMessage = Message<string, object>

export interface MesaEvents<In extends MessageMap<In>, Out extends MessageMap<Out>, User> {
  /** A socket connected (after hello was sent). */
  connection: [client: ServerClient<In, Out, User>]
  /** A socket authenticated (also again, after a re-authentication): it receives its user's messages. */
  authenticated: [client: ServerClient<In, Out, User>]
  /** A message (op 0) from any client. */
  message: [message: MessageOf<In>, client: ServerClient<In, Out, User>]
  /** A socket closed; `code` and `reason` first, as in Mesa 1.x. */
  disconnection: [code: number, reason: string, client: ServerClient<In, Out, User>]
  /** A socket subscribed to a channel (its answer was sent): asked by the client, the application or a dispatcher. */
  subscribe: [channel: string, client: ServerClient<In, Out, User>]
  /** A socket's subscription to a channel ended: unsubscribed (by either side), or the socket closed. */
  unsubscribe: [channel: string, client: ServerClient<In, Out, User>]
  /**
   * Something went wrong that the server survived: a client's bad frame (`ProtocolError`, the socket was
   * closed), a handler or listener that threw or rejected (`ServerError` `handler-failed`), the adapter or the
   * store failing. Without a listener it is dropped, never thrown.
   */
  error: [error: Error, client?: ServerClient<In, Out, User>]
}

/** Messages kept per client with `options.storeMessages`, newest last. */
const STORED_MESSAGES = 100

/**
 * Keeps each `client.messages` list within 100 messages and `maxBytes` (the messages' encoded size; 0: no byte
 * bound), dropping the oldest first; a message bigger than `maxBytes` on its own is not kept. The lists are the
 * application's arrays (the 1.x API), so each one's byte total is kept aside, and each message's size is computed
 * once however many lists keep it.
 */
class KeptMessages {
  private readonly listBytes = new WeakMap<AnyMessage[], number>()
  private readonly sizes = new WeakMap<AnyMessage, number>()

  constructor(private readonly maxBytes: number) {}

  remember(list: AnyMessage[], message: AnyMessage): void {
    const size = this.sizeOf(message)
    const bounded = this.maxBytes > 0
    if (bounded && size > this.maxBytes) return
    // An emptied list (the application may clear it) starts from 0.
    let bytes = (list.length === 0 ? 0 : (this.listBytes.get(list) ?? 0)) + size
    list.push(message)
    while (list.length > STORED_MESSAGES || (bounded && bytes > this.maxBytes)) bytes -= this.sizeOf(list.shift()!)
    this.listBytes.set(list, bytes)
  }

  private sizeOf(message: AnyMessage): number {
    let size = this.sizes.get(message)
    if (size === undefined) {
      size = Buffer.byteLength(encodeMessage(message))
      this.sizes.set(message, size)
    }
    return size
  }
}

export type ServerConnection<In extends MessageMap<In>, Out extends MessageMap<Out>, User> = Connection<
  User,
  ServerClient<In, Out, User>
>

/**
 * Announces what happens on a server to everyone who listens, each event once and from one place: the server's
 * and the client's emitters, the middleware, the portal queue and `client.messages`. Data flows one way: the
 * modules that detect an event call this; nothing here calls back into them.
 */
export class ServerEvents<In extends MessageMap<In>, Out extends MessageMap<Out>, User> {
  private readonly kept: KeptMessages | undefined

  constructor(
    private readonly server: GuardedEmitter<MesaEvents<In, Out, User>>,
    private readonly middleware: MiddlewareChain<ServerClient<In, Out, User>>,
    private readonly adapter: AdapterHandle,
    private readonly serverId: string,
    /** `portal.enabled`: client events are pushed to the adapter's portal queue. */
    private readonly portalEnabled: boolean,
    /** `options.storeMessages`: each client keeps what it sent and got. */
    private readonly storeMessages: boolean,
    /** `limits.maxStoredMessageBytes`: bytes each of a client's lists keeps. */
    maxStoredMessageBytes: number,
    private readonly log: ServerLog,
  ) {
    this.kept = storeMessages ? new KeptMessages(maxStoredMessageBytes) : undefined
  }

  connection(connection: ServerConnection<In, Out, User>): void {
    this.log.connection(connection)
    this.server.emit('connection', connection.client)
    this.middleware.run('onConnection', connection.client)
    this.portal({ kind: 'connection', clientId: connection.socketId, serverId: this.serverId, time: Date.now() })
  }

  authenticated(connection: ServerConnection<In, Out, User>): void {
    this.log.authenticated(connection)
    this.server.emit('authenticated', connection.client)
    this.middleware.run('onAuthenticated', connection.client)
    this.portal({
      kind: 'authentication',
      clientId: connection.socketId,
      serverId: this.serverId,
      userId: connection.userId!,
      time: Date.now(),
    })
  }

  message(connection: ServerConnection<In, Out, User>, message: MessageOf<In>, frame: Frame): void {
    const client = connection.client
    if (debugMessages.enabled) debugMessages('%s sent %s', connection.socketId, message.type)
    this.kept?.remember(client.messages.received, message)
    this.server.emit('message', message, client)
    client.emit('message', message)
    this.middleware.run('onMessageReceived', message, client)
    this.portal(this.messageEvent(connection, frame))
  }

  /**
   * `message` for an acknowledged send: its portal event is stored first (with `portal.enabled`; when that fails
   * nothing is announced, so the client's retry starts clean), then it is announced as `message` announces, and
   * this resolves once every listener and middleware handler finished, with the first failure (`stage`: where).
   */
  async acknowledgedMessage(
    connection: ServerConnection<In, Out, User>,
    message: MessageOf<In>,
    frame: Frame,
  ): Promise<(Failure & { stage: 'portal' | 'handler' }) | undefined> {
    if (this.portalEnabled) {
      try {
        const adapter = await this.adapter.get()
        await adapter.portal.push(this.messageEvent(connection, frame))
      } catch (error) {
        this.error(toError(error), connection)
        return { stage: 'portal', error }
      }
    }
    const client = connection.client
    if (debugMessages.enabled) debugMessages('%s sent %s (acknowledged)', connection.socketId, message.type)
    this.kept?.remember(client.messages.received, message)
    const failure = await firstFailure([
      this.server.emitSettled('message', message, client),
      client.emitSettled('message', message),
      this.middleware.runSettled('onMessageReceived', message, client),
    ])
    return failure && { stage: 'handler', error: failure.error }
  }

  disconnection(connection: ServerConnection<In, Out, User>, code: number, reason: string): void {
    const client = connection.client
    this.log.disconnection(connection, code, reason)
    client.emit('disconnect', code, reason)
    this.server.emit('disconnection', code, reason, client)
    this.middleware.run('onDisconnection', client, code, reason)
    const event: PortalEvent = { kind: 'disconnection', clientId: connection.socketId, serverId: this.serverId, time: Date.now() }
    if (connection.userId !== undefined) event.userId = connection.userId
    this.portal(event)
  }

  subscribed(connection: ServerConnection<In, Out, User>, channel: string): void {
    this.server.emit('subscribe', channel, connection.client)
    this.middleware.run('onSubscribe', connection.client, channel)
    this.portal(this.channelEvent('subscribe', connection, channel))
  }

  unsubscribed(connection: ServerConnection<In, Out, User>, channel: string): void {
    this.server.emit('unsubscribe', channel, connection.client)
    this.middleware.run('onUnsubscribe', connection.client, channel)
    this.portal(this.channelEvent('unsubscribe', connection, channel))
  }

  /** Whether anyone wants to know which sockets got each message (`onMessageSent`, `storeMessages`). */
  get collectingSent(): boolean {
    return this.storeMessages || this.middleware.has('onMessageSent')
  }

  /**
   * A message was written to these sockets (only called while `collectingSent`): the `Message`, or the frame it
   * came in (from another server), read here only when someone collects.
   */
  sent(connections: readonly ServerConnection<In, Out, User>[], sent: AnyMessage | string, fromHere: boolean): void {
    if (connections.length === 0) return
    let message: AnyMessage
    if (typeof sent === 'string') {
      const parsed = parseFrame(sent)
      if (!parsed.ok) return
      message = frameToMessage(parsed.frame)
    } else message = sent
    const clients = connections.map((connection) => connection.client)
    if (this.kept) for (const client of clients) this.kept.remember(client.messages.sent, message)
    this.middleware.run('onMessageSent', message, clients, fromHere)
  }

  /** `onUndeliverableMessageSent`, or undefined when no middleware has it. */
  get undeliverable(): ((message: AnyMessage, userIds: string[]) => void) | undefined {
    if (!this.middleware.has('onUndeliverableMessageSent')) return undefined
    return (message, userIds) => this.middleware.run('onUndeliverableMessageSent', message, userIds)
  }

  /** Whether anyone wants the messages replayed to a client (the replay then parses them). */
  get collectingReplays(): boolean {
    return this.middleware.has('onRedeliverUndeliverableMessages')
  }

  replayed(connection: ServerConnection<In, Out, User>, messages: AnyMessage[]): void {
    this.middleware.run('onRedeliverUndeliverableMessages', messages, connection.client)
  }

  portalMembership(kind: 'join' | 'leave', portalId: string): void {
    this.middleware.run(kind === 'join' ? 'onPortalJoin' : 'onPortalLeave', portalId)
  }

  /** Reports a failure through the client's and the server's `error`, the `onError` middleware and the log. */
  error(error: Error, connection?: ServerConnection<In, Out, User>): void {
    const client = connection?.client
    const heard =
      this.server.listenerCount('error') > 0 || (client?.listenerCount('error') ?? 0) > 0 || this.middleware.has('onError')
    client?.emit('error', error)
    this.server.emit('error', error, client)
    this.middleware.run('onError', error, client)
    this.log.error(error, heard, connection)
  }

  /**
   * A failure of the code that handles failures (a middleware handler, a client's `error` listener): the
   * server's `error` listeners and the log get it, never `onError` or the client again, which could loop.
   */
  handlerFailed(error: Error, client?: ServerClient<In, Out, User>): void {
    const heard = this.server.listenerCount('error') > 0
    this.server.emit('error', error, client)
    this.log.error(error, heard, client)
  }

  /** A server `error` listener failed: nobody is left to tell but the log. */
  errorListenerFailed(error: Error): void {
    this.log.error(error, false)
  }

  private channelEvent(kind: 'subscribe' | 'unsubscribe', connection: ServerConnection<In, Out, User>, channel: string): PortalEvent {
    const event: Extract<PortalEvent, { kind: 'subscribe' | 'unsubscribe' }> = { kind, clientId: connection.socketId, serverId: this.serverId, channel, time: Date.now() }
    if (connection.userId !== undefined) event.userId = connection.userId
    return event
  }

  private messageEvent(connection: ServerConnection<In, Out, User>, frame: Frame): PortalEvent {
    const event: PortalEvent = { kind: 'message', clientId: connection.socketId, serverId: this.serverId, frame, time: Date.now() }
    if (connection.userId !== undefined) event.userId = connection.userId
    return event
  }

  private portal(event: PortalEvent): void {
    if (this.portalEnabled) this.adapter.run((adapter) => adapter.portal.push(event), (error) => this.error(error))
  }
}
