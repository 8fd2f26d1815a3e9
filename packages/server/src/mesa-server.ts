import type { Server as HttpServer, IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  type AnyMessageData,
  type ChannelMap,
  CloseCode,
  ConnectionClosedError,
  type Frame,
  type Message,
  type MessageMap,
  type MessageOf,
  type PublicationOf,
  Opcode,
  ProtocolError,
  SUBPROTOCOL_V2,
} from '@mesa/core'
import {
  type Adapter,
  encodeFrame,
  type Envelope,
  frameToMessage,
  type InternalType,
  isChannelEnvelope,
  MemoryAdapter,
  type ChannelMembers,
  type PortalMembershipEvent,
} from '@mesa/core/server'
import { nanoid } from 'nanoid'
import { type RawData, type WebSocket, WebSocketServer } from 'ws'
import { AdapterHandle } from './adapter-handle.js'
import { Admission } from './admission.js'
import { AuthenticationFlow } from './authentication-flow.js'
import type { AuthorizeHook } from './channels/authorize.js'
import { ServerChannels } from './channels/channels.js'
import type { HistoryQuery, HistoryResult } from './channels/history.js'
import { readClientFrame } from './client-frame.js'
import { resolveConfig } from './config.js'
import type { MesaOptions, ResolvedConfig } from './options.js'
import { Connection, type SocketContext } from './connection.js'
import { ServerError, toError } from './errors.js'
import { FrameWriter } from './frame-writer.js'
import { sharedGapReader } from './gap-reader.js'
import { GuardedEmitter } from './guarded-emitter.js'
import { HeartbeatSweep } from './heartbeat-sweep.js'
import { ServerLog } from './logging.js'
import { type HelloFrames, helloFrames } from './hello.js'
import { InboundGate } from './inbound-gate.js'
import { MiddlewareChain, type MiddlewareHandlers } from './middleware.js'
import { Outbound } from './outbound.js'
import { ConnectionRegistry } from './registry.js'
import type { AnyHandler, RequestHandler, RequestMap, UntypedRequests } from './requests/request-handlers.js'
import { Requests } from './requests/requests.js'
import { loadRedisAdapter } from './resolve-adapter.js'
import { SendBuffers } from './send-buffers.js'
import { SocketListeners } from './socket-listeners.js'
import { type ClientHost, isSendableCloseCode, ServerClient } from './server-client.js'
import { type MesaEvents, type ServerConnection, ServerEvents } from './server-events.js'
import { createStats, type MesaStats } from './stats.js'
import { closeUpgradeServer, createUpgradeServer } from './upgrade-server.js'

export type { MesaEvents } from './server-events.js'

/** Messages the server can send: the application's, or 1.x `new Message(5, {}, 'DISCONNECT_CLIENT')`. */
export type Sendable<Out extends MessageMap<Out>> = MessageOf<Out> | Message<typeof InternalType.DisconnectClient, object>

/** `mesa.use(server => handlers)`, as in Mesa 1.x. */
export type Middleware<
  In extends MessageMap<In> = MessageMap,
  Out extends MessageMap<Out> = MessageMap,
  User = unknown,
  Req extends RequestMap<Req> = UntypedRequests,
> = (server: Mesa<In, Out, User, Req>) => MiddlewareHandlers<In, Out, User>

/** How `mesa.close()` closes the sockets. */
export interface CloseOptions {
  /** Close code every socket gets. Default `CloseCode.GoingAway` (1001). */
  code?: number
  /** Close reason (at most 123 bytes are sent). Default `'server shutting down'`. */
  reason?: string
}

function checkCloseOptions(options: CloseOptions): Required<CloseOptions> {
  if (typeof options !== 'object' || options === null) throw new TypeError('mesa.close() takes an options object')
  const { code = CloseCode.GoingAway, reason = 'server shutting down' } = options
  if (!isSendableCloseCode(code)) {
    throw new ServerError('invalid-close-code', `close(): ${String(code)} is not a close code a server may send`)
  }
  if (typeof reason !== 'string') throw new TypeError('close(): reason must be a string')
  return { code, reason }
}

/** `mesa.channels`: what decides about client-side subscriptions. */
export interface MesaChannels<Client> {
  /**
   * Sets the hook that authorizes each subscription a client asks for (op 30, and resubscriptions after a
   * reconnect): `(client, channel, params) => boolean | { presence? }`, sync or async. Without one, client-side
   * subscriptions are refused (`forbidden`). See `AuthorizeHook`.
   */
  authorize(hook: AuthorizeHook<Client>): void
}

/** After `close()` sent its close frame, sockets that have not finished the closing handshake by then are cut. */
const SHUTDOWN_GRACE_MS = 5000

/** The heartbeat frame; after a missed ack 1.x sends `{ tries, max }` instead. */
const HEARTBEAT_FRAME = encodeFrame({ op: Opcode.Heartbeat, d: {} })

/** Resolves once `target` listens; its `error` before that rejects. Leaves no listener behind on the app's server. */
function whenListening(target: {
  readonly listening?: boolean
  once(event: 'listening' | 'error', listener: (error?: Error) => void): unknown
  off(event: 'listening' | 'error', listener: (error?: Error) => void): unknown
}): Promise<void> {
  if (target.listening === true) return Promise.resolve()
  return new Promise<void>((resolve, reject) => {
    const listening = (): void => {
      target.off('error', failed)
      resolve()
    }
    const failed = (error?: Error): void => {
      target.off('listening', listening)
      reject(error)
    }
    target.once('listening', listening)
    target.once('error', failed)
  })
}

/** Bytes of a frame as ws hands it over (a Buffer unless fragments were kept apart). */
function rawLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((total, part) => total + part.length, 0)
  return data.byteLength
}

/**
 * A Mesa server: `new Mesa({ port })`, or `{ server }` to share an http(s) server.
 *
 * The modules it wires, and the way data flows through them (`docs/architecture.md` has the picture):
 * - a socket's life: `ConnectionRegistry` (set, recipient index, presence, sweep), `HeartbeatSweep` (one timer);
 * - what clients send: `readClientFrame` -> heartbeat ack, `AuthenticationFlow`, or a message;
 * - what the server sends: `Outbound` -> `prepareDispatch` (store) -> `deliverLocally` -> `SocketDelivery`
 *   (order, gaps) -> `Connection.write` -> `FrameWriter` (frame once, cork per event-loop turn), then `adapter.publish`;
 * - what happens is announced once by `ServerEvents` (emitters, middleware, portal queue, `client.messages`).
 *
 * - channels: `ServerChannels` (op 30/32, subscriptions, publications, presence), fed by `Mesa` and `AuthenticationFlow`.
 *
 * @typeParam In messages clients send (type name -> data); Out messages the server sends; User the user object
 *   authenticate handlers produce; Req the requests clients make (type -> `{ request, reply }` data); Channels the
 *   messages published on each channel (`ChannelMap`).
 */
export class Mesa<
  In extends MessageMap<In> = MessageMap,
  Out extends MessageMap<Out> = MessageMap,
  User = unknown,
  Req extends RequestMap<Req> = UntypedRequests,
  Channels extends ChannelMap<Channels> = ChannelMap,
> extends GuardedEmitter<MesaEvents<In, Out, User>> {
  /** Id of this server on the adapter (envelope origin, portal events). */
  readonly id: string
  /** Counters and gauges of what this server does (`@mesa/server/metrics` exposes them to Prometheus). */
  readonly stats: MesaStats = createStats()
  /** Client-side subscriptions: `mesa.channels.authorize(hook)`. */
  readonly channels: MesaChannels<ServerClient<In, Out, User>>
  private readonly config: ResolvedConfig
  private readonly wss: WebSocketServer
  /** The http server Mesa created for `port` (undefined with `options.server`, which is the application's). */
  private readonly ownServer: HttpServer | undefined
  private readonly sendBuffers: SendBuffers
  private readonly adapterHandle: AdapterHandle
  private readonly registry: ConnectionRegistry<User, ServerClient<In, Out, User>>
  private readonly sweep: HeartbeatSweep<ServerConnection<In, Out, User>>
  private readonly middleware: MiddlewareChain<ServerClient<In, Out, User>>
  private readonly events: ServerEvents<In, Out, User>
  private readonly hello: HelloFrames
  private readonly log: ServerLog
  private readonly authentication: AuthenticationFlow<In, Out, User>
  private readonly inbound: InboundGate
  private readonly outbound: Outbound<In, Out, User>
  private readonly requests: Requests<In, Out, User>
  private readonly channelSet: ServerChannels<In, Out, User>
  private readonly socketContext: SocketContext
  private readonly clientHost: ClientHost<Out, User>
  private readonly socketListeners: SocketListeners<ServerConnection<In, Out, User>> = new SocketListeners({
    message: (connection, data, isBinary) => this.receive(connection, data, isBinary),
    close: (connection, code, reason) => this.closed(connection, code, reason),
    error: (connection, error) => this.socketError(connection, error),
  })
  private readonly ready: Promise<void>
  private readonly subscription: Promise<(() => Promise<void>) | undefined>
  /** Watches which portals consume, once middleware has `onPortalJoin` or `onPortalLeave`. */
  private portalMembership: Promise<(() => Promise<void>) | undefined> | undefined
  private closing: Promise<void> | undefined

  constructor(options: MesaOptions = {}) {
    super()
    const config = resolveConfig(options)
    this.config = config
    this.id = config.id ?? `server-${nanoid()}`
    this.hello = helloFrames(config)
    const log = new ServerLog(config.logger, this.id)
    this.log = log

    let adapter: Adapter | Promise<Adapter>
    if (config.adapter) adapter = config.adapter
    else if (config.redis !== undefined) adapter = loadRedisAdapter(config.redis, config.namespace)
    else adapter = new MemoryAdapter(config.namespace === undefined ? {} : { namespace: config.namespace })
    this.adapterHandle = new AdapterHandle(adapter, config.adapter === undefined)
    this.adapterHandle.ready.catch((error: unknown) => this.events.error(toError(error)))

    this.middleware = new MiddlewareChain<ServerClient<In, Out, User>>((error, client) => this.events.handlerFailed(error, client))
    this.events = new ServerEvents<In, Out, User>(
      this,
      this.middleware,
      this.adapterHandle,
      this.id,
      config.portal.enabled,
      config.options.storeMessages,
      config.limits.maxStoredMessageBytes,
      log,
    )
    this.requests = new Requests<In, Out, User>(
      {
        serverId: this.id,
        ...config.requests,
        portal: config.portal.enabled,
        authenticationRequired: config.authentication.required,
        acks: config.acks,
        refreshBefore: config.authentication.refreshBefore,
      },
      this.adapterHandle,
      this.events,
      this.stats,
    )
    this.sweep = new HeartbeatSweep<ServerConnection<In, Out, User>>({
      heartbeatInterval: config.heartbeat.enabled ? config.heartbeat.interval : undefined,
      maxAttempts: config.heartbeat.maxAttempts,
      authenticationTimeout: config.authentication.timeout,
      closeTimeout: config.limits.closeTimeout,
      onBeat: (connection, tries, max) =>
        connection.write(tries === undefined ? HEARTBEAT_FRAME : encodeFrame({ op: Opcode.Heartbeat, d: { tries, max } })),
      onTimeout: (connection, cause) => {
        if (cause === 'heartbeat') {
          connection.close(CloseCode.HeartbeatTimeout, `no heartbeat ack after ${config.heartbeat.maxAttempts} retries`)
        } else if (cause === 'authentication') {
          connection.close(CloseCode.AuthenticationTimeout, `not authenticated within ${config.authentication.timeout} ms`)
        } else {
          connection.ws.terminate()
        }
      },
    })
    this.registry = new ConnectionRegistry<User, ServerClient<In, Out, User>>(
      this.sweep,
      this.stats,
      this.adapterHandle,
      config.authentication.storeConnectedUsers,
      config.authentication.required,
      (error, connection) => this.events.error(error, connection),
    )
    this.inbound = new InboundGate({ maxPayload: config.maxPayload, ...config.limits }, this.stats, (error, connection) =>
      this.events.error(error, connection as ServerConnection<In, Out, User>),
    )
    this.channelSet = new ServerChannels<In, Out, User>(
      this.id,
      config.channels,
      { authenticationRequired: config.authentication.required, redeliveryInterval: config.sync.redeliveryInterval },
      this.adapterHandle,
      (userId) => this.registry.index.get(userId),
      this.events,
      this.stats,
    )
    this.channels = { authorize: (hook) => this.channelSet.authorize(hook) }
    this.authentication = new AuthenticationFlow<In, Out, User>(
      {
        sendUserObject: config.authentication.sendUserObject,
        disconnectOnFail: config.authentication.disconnectOnFail,
        sync: config.sync.enabled,
        redeliveryInterval: config.sync.redeliveryInterval,
        upgradeCredentials: config.authentication.upgradeCredentials,
        maxConnectionsPerUser: config.limits.maxConnectionsPerUser,
      },
      this.adapterHandle,
      this.registry,
      this.inbound,
      this.events,
      this.stats,
      this.requests.expiry,
      this.channelSet,
    )
    this.outbound = new Outbound<In, Out, User>(
      this.id,
      { sync: config.sync.enabled, authenticatedOnly: config.authentication.required },
      this.registry,
      this.adapterHandle,
      this.events,
      this.stats,
    )
    this.sendBuffers = new SendBuffers(config.limits.maxBufferedBytes, this.stats)
    this.socketContext = {
      writer: new FrameWriter(config.maxBufferedAmount, this.stats),
      sendBuffers: this.sendBuffers,
      // Fills gaps in live traffic; shared so that sockets hitting the same gap cause one store read.
      readGap: sharedGapReader(() => this.adapterHandle.current!.store),
      stats: this.stats,
      report: (error, connection) => this.events.error(error, connection as ServerConnection<In, Out, User>),
      closing: (connection) => {
        this.sendBuffers.forget(connection)
        this.sweep.closing(connection as ServerConnection<In, Out, User>)
      },
    }
    this.clientHost = {
      sendToClient: (connection, message) => this.sendToClient(connection as ServerConnection<In, Out, User>, message),
      authenticatorSet: (connection) => this.registry.expectAuthentication(connection as ServerConnection<In, Out, User>),
      updateUser: (connection, id, user) => this.registry.changeUser(connection as ServerConnection<In, Out, User>, id, user),
      subscribe: (connection, channel) => this.subscribeClient(connection as ServerConnection<In, Out, User>, channel),
      unsubscribe: (connection, channel) => this.channelSet.unsubscribe(connection as ServerConnection<In, Out, User>, channel),
      channelsOf: (connection) => this.channelSet.of(connection as ServerConnection<In, Out, User>),
      request: (connection, message, options) => this.requests.request(connection as ServerConnection<In, Out, User>, message, options),
      listenerFailed: (connection, error, event) => {
        const served = connection as ServerConnection<In, Out, User>
        // A failing `error` listener of the client is reported to the server's listeners only.
        if (event === 'error') this.events.handlerFailed(error, served.client)
        else this.events.error(error, served)
      },
    }

    const { verifyClient } = new Admission(
      {
        allowedOrigins: config.allowedOrigins,
        verifyConnection: config.verifyConnection,
        maxConnectionsPerIp: config.limits.maxConnectionsPerIp,
        handshakeTimeout: config.limits.handshakeTimeout,
      },
      (error) => this.events.error(error),
    )
    if (config.server === undefined) {
      this.ownServer = createUpgradeServer(config.limits.handshakeTimeout)
      this.ownServer.listen(config.port, config.host)
    }
    const server = config.server ?? this.ownServer!
    this.wss = new WebSocketServer({
      server,
      ...(config.path === undefined ? {} : { path: config.path }),
      ...(verifyClient === undefined ? {} : { verifyClient }),
      maxPayload: config.maxPayload,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL_V2) ? SUBPROTOCOL_V2 : false),
    })
    this.wss.on('connection', (ws, request) => this.accept(ws, request))
    this.wss.on('error', (error) => this.events.error(error))

    const bound = whenListening(server)
    this.subscription = this.adapterHandle.ready.then(
      (resolved) => resolved.subscribe(this.id, (envelope) => this.receiveEnvelope(envelope)),
      () => undefined,
    )
    this.subscription.catch((error: unknown) => this.events.error(toError(error)))
    this.ready = Promise.all([bound, this.adapterHandle.ready, this.subscription]).then(() =>
      log.listening({ port: this.port, path: config.path, namespace: this.namespace }),
    )
    // Reported through `error` and `listening()`; unobserved, it must not be an unhandled rejection.
    this.ready.catch(() => {})
  }

  /**
   * Resolves once the server accepts connections (bound to its port, or its http server listening) and is
   * subscribed to the adapter; rejects when listening failed (e.g. the port is taken) or the adapter could
   * not be created.
   */
  listening(): Promise<void> {
    return this.ready
  }

  /** The port connections are accepted on; undefined until listening. */
  get port(): number | undefined {
    const address = (this.config.server ?? this.wss).address() as AddressInfo | string | null
    return typeof address === 'object' && address !== null ? address.port : undefined
  }

  /** The adapter's namespace. */
  get namespace(): string {
    return this.adapterHandle.current?.namespace ?? this.config.namespace ?? 'mesa'
  }

  /** The adapter in use (replication, presence, redelivery store, portal queue); undefined while a Redis one loads. */
  get adapter(): Adapter | undefined {
    return this.adapterHandle.current
  }

  /** Every connected client of this server (Mesa 1.x `server.clients`); a new array on each call. */
  get clients(): ServerClient<In, Out, User>[] {
    return Array.from(this.registry.all, (connection) => connection.client)
  }

  /** Number of open sockets on this server. */
  get connectionCount(): number {
    return this.registry.all.size
  }

  /** Adds middleware: `mesa.use(server => ({ onMessageReceived(message, client) { ... } }))`. */
  use(middleware: Middleware<In, Out, User, Req>): this {
    if (typeof middleware !== 'function') throw new TypeError('mesa.use() takes a function (server) => handlers')
    const handlers = middleware(this)
    if (typeof handlers !== 'object' || handlers === null) {
      throw new TypeError('a middleware must return an object of handlers (onConnection, onMessageSent, ...)')
    }
    this.middleware.add(handlers as MiddlewareHandlers<MessageMap, MessageMap, unknown, ServerClient<In, Out, User>>)
    if (this.middleware.has('onPortalJoin') || this.middleware.has('onPortalLeave')) this.watchPortals()
    return this
  }

  /**
   * Answers the requests clients make with `client.request()` (op 40): `mesa.onRequest(type, handler)` for one
   * type, `mesa.onRequest(handler)` for every type without its own handler; a later call for the same type
   * replaces the handler. `handler(message, client)` may be `async`; its result is the reply: a `Message` (its
   * type and data), or the reply's data (sent with the request's type; nothing answers `{}`). Throwing (or
   * rejecting with) `new RequestRejection(code, message)` refuses the request with that code and message; any
   * other failure reaches the client as a generic `rejected` and `error` as a `ServerError` `handler-failed`.
   * A request no handler takes goes to portals with `portal.enabled` (a `request` event), else is answered
   * `no-handler`. See the README, "Requests".
   */
  onRequest<K extends keyof Req & string>(
    type: K,
    handler: RequestHandler<K, Req[K]['request'], Req[K]['reply'], ServerClient<In, Out, User>>,
  ): this
  onRequest(handler: RequestHandler<string, AnyMessageData, object, ServerClient<In, Out, User>>): this
  onRequest(typeOrHandler: unknown, handler?: unknown): this {
    type Handler = AnyHandler<ServerClient<In, Out, User>>
    if (typeof typeOrHandler === 'function') {
      this.requests.handlers.set(undefined, typeOrHandler as Handler)
      return this
    }
    if (typeof typeOrHandler !== 'string' || typeOrHandler.length === 0 || typeof handler !== 'function') {
      throw new TypeError('mesa.onRequest() takes a type (a non-empty string) and a handler (message, client) => reply, or a handler')
    }
    this.requests.handlers.set(typeOrHandler, handler as Handler)
    return this
  }

  /**
   * Sends a message: no `recipients` = every socket, `['*']` = every authenticated user, else those user ids
   * (non-empty strings; each on every socket they have, on every server sharing the adapter); `excluding` user
   * ids do not get it. With `sync.enabled` a synced message is stored first: the promise resolves once it is
   * stored and published, and rejects with `StoreError` (store: nobody got it) or `AdapterError` (publish)
   * otherwise. After an `AdapterError` a synced message is stored and reaches other servers' recipients through
   * redelivery: sending it again would deliver it twice. Bad arguments reject with `ServerError`
   * (`invalid-message`, `invalid-recipients`).
   * `new Message(5, {}, 'DISCONNECT_CLIENT')` closes the recipients' sockets everywhere instead; it needs user
   * ids (`'*'` is refused).
   */
  send(message: Sendable<Out>, recipients?: readonly string[], excluding?: readonly string[]): Promise<void> {
    return this.reported(() => this.outbound.send(message, recipients, excluding))
  }

  /** A send or a publication: refused once closing; a failure counts and is reported, and still reaches the caller. */
  private reported(sending: () => Promise<void>): Promise<void> {
    const sent = this.closing ? Promise.reject(new ConnectionClosedError('the server is closed')) : sending()
    // The caller gets the rejection; this keeps an unawaited send from becoming an unhandled rejection.
    sent.catch((error: unknown) => {
      this.stats.sendFailures++
      this.events.error(toError(error))
    })
    return sent
  }

  /**
   * Publishes a message (opcode 0) on a channel: every socket subscribed to it, on every server sharing the
   * adapter, gets it once (protocol 2 sockets with `x.ch` and, when stored, `s`: its position in the channel's
   * stream; Mesa 1.x sockets as a plain op 0). When the channel's rule keeps history and the message is synced
   * (`options.sync !== false`), it is stored once in the channel's stream first, whatever the subscribers. Resolves
   * once stored and published; rejects like `send`: `StoreError` (nobody got it), `AdapterError` (this server's
   * subscribers got it; a stored one reaches the others' with their next publication or resume: do not publish
   * it again), `ChannelError` `invalid-channel`, `ServerError` `invalid-message`.
   */
  publish<C extends keyof Channels & string>(channel: C, message: PublicationOf<Channels, C>): Promise<void> {
    return this.reported(() => this.channelSet.publish(channel, message as Message<string, object>))
  }

  /**
   * Who is subscribed to a channel whose rule has `presence` (or `joinLeave`), across every server: distinct
   * user ids (authenticated sockets only) and their count. Rejects with `ChannelError` `invalid-channel`, or the
   * adapter's error.
   */
  presence(channel: keyof Channels & string): Promise<ChannelMembers> {
    return this.channelSet.presence(channel)
  }

  /**
   * Reads a channel's stored publications: `{ limit }` the latest (what is still retained), `{ after }` those
   * after a position, all or nothing like a resume (`trimmed`, `epoch-changed`), the oldest `limit` of them when
   * given. Rejects with `ChannelError` `invalid-channel`, `TypeError` for a bad query, or the store's error.
   */
  history<C extends keyof Channels & string>(channel: C, query: HistoryQuery): Promise<HistoryResult<PublicationOf<Channels, C>>> {
    return this.channelSet.history(channel, query) as Promise<HistoryResult<PublicationOf<Channels, C>>>
  }

  /**
   * Stops accepting connections, closes every socket with `code` (default 1001; clients reconnect, possibly
   * elsewhere: a draining gateway sends 1012, `CloseCode.ServiceRestart`) and resolves once all are closed
   * (sockets that do not finish the handshake within 5 s are cut), every timer is cleared and the server left
   * the adapter; an adapter the server created itself is closed. Idempotent: later calls get the first call's
   * promise, whatever their options.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.closing ??= this.shutdown(checkCloseOptions(options))
    return this.closing
  }

  private async shutdown({ code, reason }: Required<CloseOptions>): Promise<void> {
    this.sweep.stop()
    const connections = [...this.registry.all]
    this.log.closing(code, connections.length)
    const closed = connections.map((connection) => new Promise<void>((resolve) => connection.ws.once('close', () => resolve())))
    for (const connection of connections) connection.close(code, reason)
    if (closed.length > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          for (const connection of this.registry.all) connection.ws.terminate()
          resolve()
        }, SHUTDOWN_GRACE_MS)
      })
      await Promise.race([Promise.all(closed), grace])
      clearTimeout(timer)
      await Promise.all(closed)
    }
    // The sockets' channels were left: the adapter is told before the server leaves it.
    await this.channelSet.idle()
    this.requests.stop()
    await new Promise<void>((resolve) => this.wss.close(() => resolve()))
    if (this.ownServer) await closeUpgradeServer(this.ownServer)
    const report = (error: unknown): void => this.events.error(toError(error))
    const unsubscribe = await this.subscription.catch(() => undefined)
    await unsubscribe?.().catch(report)
    const unwatch = await this.portalMembership
    await unwatch?.().catch(report)
    if (this.adapterHandle.owned) {
      const adapter = await this.adapterHandle.ready.catch(() => undefined)
      await adapter?.close().catch(report)
    }
    this.log.closed()
  }

  protected override listenerFailed(error: Error, event: keyof MesaEvents<In, Out, User>): void {
    // A failing `error` listener has nobody left to tell but the log; every other one is reported as an error.
    if (event === 'error') this.events.errorListenerFailed(error)
    else this.events.error(error)
  }

  private accept(ws: WebSocket, request: IncomingMessage): void {
    if (this.closing) {
      ws.close(CloseCode.GoingAway, 'server shutting down')
      return
    }
    const protocol = ws.protocol === SUBPROTOCOL_V2 ? 2 : 1
    const connection = new Connection<User, ServerClient<In, Out, User>>(
      nanoid(),
      ws,
      protocol,
      request,
      Date.now(),
      this.socketContext,
    )
    connection.client = new ServerClient<In, Out, User>(connection, this.clientHost)
    this.socketListeners.attach(ws, connection)
    this.registry.add(connection)
    this.inbound.opened(connection)
    connection.write(protocol === 2 ? this.hello.v2 : this.hello.v1)
    this.events.connection(connection)
  }

  private receive(connection: ServerConnection<In, Out, User>, data: RawData, isBinary: boolean): void {
    // Once the server decided to close a socket, nothing it sends reaches the application (or `error`).
    if (connection.closing || connection.closed) return
    const bytes = rawLength(data)
    this.stats.bytesIn += bytes
    // Size and rate are checked before anything is parsed; a refused frame was dealt with by the gate.
    if (!this.inbound.admit(connection, bytes)) return
    const read = readClientFrame(data, isBinary, this.config.limits, connection.protocol === 2)
    if (!read.ok) {
      this.reject(connection, read.error)
      return
    }
    const { frame } = read
    if (frame.op === Opcode.HeartbeatAck) this.sweep.ack(connection)
    else if (frame.op === Opcode.Authenticate) this.authentication.receive(connection, frame)
    else if (frame.op === Opcode.Subscribe || frame.op === Opcode.Unsubscribe) this.channelSet.receive(connection, frame)
    // Requests, replies and acknowledged sends (and what waits behind them); `Requests` says which are its.
    else if (!this.requests.receive(connection, frame, bytes)) this.receiveMessage(connection, frame)
  }

  private receiveMessage(connection: ServerConnection<In, Out, User>, frame: Frame): void {
    const { client: clientRules, authentication } = this.config
    if (clientRules.enforceEqualVersions && frame.t === 'CLIENT_VERSION') {
      const version = frame.d.v
      if (version !== clientRules.version) {
        this.reject(
          connection,
          new ProtocolError(
            'version-mismatch',
            CloseCode.ProtocolError,
            `client version ${JSON.stringify(version)} differs from the server's ${JSON.stringify(clientRules.version)}`,
          ),
        )
      }
      return
    }
    // `authentication.required`: what an unauthenticated socket says is not taken.
    if (authentication.required && !connection.authenticated) return
    this.stats.messagesIn++
    this.events.message(connection, frameToMessage(frame) as MessageOf<In>, frame)
  }

  private reject(connection: ServerConnection<In, Out, User>, error: ProtocolError): void {
    this.events.error(error, connection)
    connection.close(error.closeCode, error.message)
  }

  private socketError(connection: ServerConnection<In, Out, User>, error: Error & { code?: string }): void {
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      // ws has already closed the socket with 1009, and reads nothing more from it.
      this.events.error(this.inbound.tooLarge(connection), connection)
      return
    }
    this.events.error(new ServerError('socket-error', `socket error: ${error.message}`, { cause: error }), connection)
  }

  private closed(connection: ServerConnection<In, Out, User>, code: number, reason: string): void {
    if (connection.closed) return
    connection.closed = true
    connection.delivery.dispose()
    this.sendBuffers.forget(connection)
    this.registry.remove(connection)
    this.channelSet.closed(connection)
    this.requests.closed(connection)
    this.events.disconnection(connection, code, reason)
  }

  private sendToClient(connection: ServerConnection<In, Out, User>, message: MessageOf<Out>): Promise<void> {
    if (connection.authenticated && connection.userId !== undefined) return this.send(message, [connection.userId])
    try {
      this.outbound.sendToSocket(connection, message)
      return Promise.resolve()
    } catch (error) {
      this.stats.sendFailures++
      this.events.error(toError(error), connection)
      const rejected = Promise.reject(error)
      rejected.catch(() => {})
      return rejected
    }
  }

  /** A server-side subscription (`client.subscribe`); a failure is reported, and reaches the caller. */
  private subscribeClient(connection: ServerConnection<In, Out, User>, channel: string): Promise<void> {
    const subscribing = this.channelSet.subscribe(connection, channel)
    subscribing.catch((error: unknown) => this.events.error(toError(error), connection))
    return subscribing
  }

  private receiveEnvelope(envelope: Envelope): void {
    if (this.closing) return
    try {
      if (isChannelEnvelope(envelope) || envelope.kind === 'subscription') this.channelSet.receiveEnvelope(envelope)
      else if (envelope.kind === 'reply') this.requests.reply(envelope)
      else this.outbound.receive(envelope)
    } catch (error) {
      this.events.error(toError(error))
    }
  }

  /**
   * One watch for the server's life, started by the first middleware that wants it: servers without those
   * hooks open nothing for it (on Redis, a connection and a timer).
   */
  private watchPortals(): void {
    if (this.portalMembership || this.closing) return
    this.portalMembership = this.adapterHandle.ready.then(
      (adapter) =>
        adapter.portal
          .watchMembers((event) => this.portalMembershipChanged(event))
          .catch((error: unknown) => {
            this.events.error(toError(error))
            return undefined
          }),
      // The constructor reports an adapter that could not be created.
      () => undefined,
    )
  }

  private portalMembershipChanged(event: PortalMembershipEvent): void {
    if (!this.closing) this.events.portalMembership(event.kind, event.portalId)
  }
}
