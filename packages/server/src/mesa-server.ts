import type { IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  type Adapter,
  CloseCode,
  ConnectionClosedError,
  type Envelope,
  type Frame,
  frameToMessage,
  type InternalType,
  MemoryAdapter,
  MesaError,
  type Message,
  type MessageMap,
  type MessageOf,
  Opcode,
  type PortalEvent,
  type PortalMembershipEvent,
  ProtocolError,
  SUBPROTOCOL_V2,
  TypedEmitter,
} from '@mesa/core'
import { nanoid } from 'nanoid'
import { type RawData, type WebSocket, WebSocketServer } from 'ws'
import { AuthenticationFlow } from './authentication-flow.js'
import { readClientFrame } from './client-frame.js'
import { type MesaOptions, type ResolvedConfig, resolveConfig } from './config.js'
import { Connection } from './connection.js'
import { FrameWriter } from './frame-writer.js'
import { sharedGapReader } from './gap-reader.js'
import { HeartbeatSweep } from './heartbeat-sweep.js'
import { type HelloFrames, helloFrames } from './hello.js'
import { type Middleware, MiddlewareChain } from './middleware.js'
import { Outbound } from './outbound.js'
import { RecipientIndex } from './recipient-index.js'
import { loadRedisAdapter } from './resolve-adapter.js'
import { type ClientHost, isSendableCloseCode, ServerClient } from './server-client.js'

export interface MesaEvents<In extends MessageMap<In>, Out extends MessageMap<Out>, User> {
  /** A socket connected (after hello was sent). */
  connection: [client: ServerClient<In, Out, User>]
  /** A message (op 0) from any client. */
  message: [message: MessageOf<In>, client: ServerClient<In, Out, User>]
  /** A socket closed; `code` and `reason` first, as in Mesa 1.x. */
  disconnection: [code: number, reason: string, client: ServerClient<In, Out, User>]
  /**
   * Something went wrong that the server survived: a client's bad frame (`ProtocolError`, the socket was
   * closed), a handler or listener that threw, the adapter or the store failing. Without a listener it is
   * dropped, never thrown.
   */
  error: [error: Error, client?: ServerClient<In, Out, User>]
}

/** Messages the server can send: the application's, or 1.x `new Message(5, {}, 'DISCONNECT_CLIENT')`. */
export type Sendable<Out extends MessageMap<Out>> = MessageOf<Out> | Message<typeof InternalType.DisconnectClient, object>

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
    throw new MesaError('invalid-close-code', `close(): ${String(code)} is not a close code a server may send`)
  }
  if (typeof reason !== 'string') throw new TypeError('close(): reason must be a string')
  return { code, reason }
}

/** Messages kept per client with `options.storeMessages`, newest last. */
const STORED_MESSAGES = 100
/** After `close()` sent 1001, sockets that have not finished the closing handshake by then are cut. */
const SHUTDOWN_GRACE_MS = 5000

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value))
}

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

function remember(list: Message<string, object>[], message: Message<string, object>): void {
  if (list.push(message) > STORED_MESSAGES) list.shift()
}

/**
 * A Mesa server: `new Mesa({ port })`, or `{ server }` to share an http(s) server.
 *
 * @typeParam In messages clients send (type name -> data); Out messages the server sends; User the user object
 *   authenticate handlers produce.
 */
export class Mesa<
  In extends MessageMap<In> = MessageMap,
  Out extends MessageMap<Out> = MessageMap,
  User = unknown,
> extends TypedEmitter<MesaEvents<In, Out, User>> {
  /** Id of this server on the adapter (envelope origin, portal events). */
  readonly id: string
  private readonly config: ResolvedConfig
  private readonly wss: WebSocketServer
  private readonly adapterReady: Promise<Adapter>
  private resolvedAdapter: Adapter | undefined
  private readonly ownsAdapter: boolean
  private readonly connections = new Set<Connection<User>>()
  private readonly clientOf = new Map<Connection<User>, ServerClient<In, Out, User>>()
  private readonly index = new RecipientIndex<Connection<User>>()
  private readonly writer: FrameWriter
  private readonly sweep: HeartbeatSweep<Connection<User>>
  private readonly middleware: MiddlewareChain<ServerClient<In, Out, User>>
  private readonly hello: HelloFrames
  private readonly authentication: AuthenticationFlow<User>
  private readonly ready: Promise<void>
  private readonly subscription: Promise<(() => Promise<void>) | undefined>
  /** Watches which portals consume, once middleware has `onPortalJoin` or `onPortalLeave`. */
  private portalMembership: Promise<(() => Promise<void>) | undefined> | undefined
  private closing: Promise<void> | undefined
  private readonly clientHost: ClientHost<Out, User>
  private readonly outbound: Outbound<User>
  /** Fills gaps in live traffic; shared so that sockets hitting the same gap cause one store read. */
  private readonly readGap = sharedGapReader(() => this.resolvedAdapter!.store)

  constructor(options: MesaOptions = {}) {
    super()
    const config = resolveConfig(options)
    this.config = config
    this.id = config.id ?? `server-${nanoid()}`
    this.hello = helloFrames(config)
    this.writer = new FrameWriter(config.maxBufferedAmount)
    this.middleware = new MiddlewareChain<ServerClient<In, Out, User>>((error, client) => this.emitError(error, client))

    let adapter: Adapter | Promise<Adapter>
    if (config.adapter) adapter = config.adapter
    else if (config.redis !== undefined) adapter = loadRedisAdapter(config.redis, config.namespace)
    else adapter = new MemoryAdapter(config.namespace === undefined ? {} : { namespace: config.namespace })
    this.ownsAdapter = config.adapter === undefined
    if (adapter instanceof Promise) {
      this.adapterReady = adapter.then((resolved) => {
        this.resolvedAdapter = resolved
        return resolved
      })
    } else {
      this.resolvedAdapter = adapter
      this.adapterReady = Promise.resolve(adapter)
    }
    this.adapterReady.catch((error: unknown) => this.report(toError(error)))

    this.sweep = new HeartbeatSweep<Connection<User>>({
      heartbeatInterval: config.heartbeat.enabled ? config.heartbeat.interval : undefined,
      maxAttempts: config.heartbeat.maxAttempts,
      authenticationTimeout: config.authentication.timeout,
      onBeat: (connection, tries, max) =>
        connection.write(tries === undefined ? '{"op":1,"d":{}}' : `{"op":1,"d":{"tries":${tries},"max":${max}}}`),
      onTimeout: (connection, cause) =>
        cause === 'heartbeat'
          ? connection.close(CloseCode.HeartbeatTimeout, `no heartbeat ack after ${config.heartbeat.maxAttempts} retries`)
          : connection.close(CloseCode.AuthenticationTimeout, `not authenticated within ${config.authentication.timeout} ms`),
    })

    this.authentication = new AuthenticationFlow<User>({
      config,
      adapter: () => this.adapterReady,
      register: (connection) => this.register(connection),
      unregister: (connection) => this.unregister(connection),
      authenticated: (connection) => {
        const client = this.clientOf.get(connection)!
        this.middleware.run('onAuthenticated', client)
        this.portal({
          kind: 'authentication',
          clientId: connection.socketId,
          serverId: this.id,
          userId: connection.userId!,
          time: Date.now(),
        })
      },
      report: (error, connection) => this.report(error, connection),
    })

    this.outbound = new Outbound<User>({
      config,
      id: this.id,
      connections: this.connections,
      index: this.index,
      adapter: () => this.resolvedAdapter ?? this.adapterReady,
      collecting: () => config.options.storeMessages || this.middleware.has('onMessageSent'),
      sent: (connections, message, fromHere) => this.sent(connections, message, fromHere),
      undeliverable: () =>
        this.middleware.has('onUndeliverableMessageSent')
          ? (message, userIds) => this.middleware.run('onUndeliverableMessageSent', message, userIds)
          : undefined,
    })

    this.clientHost = {
      sendToClient: (connection, message) => this.sendToClient(connection, message),
      authenticatorSet: (connection) => {
        if (!connection.authenticated) this.sweep.expectAuthentication(connection, connection.connectedAt)
      },
      updateUser: (connection, id, user) => {
        if (id !== connection.userId) {
          this.unregister(connection)
          connection.userId = id
          connection.user = user
          // The old user's position means nothing in the new user's stream.
          connection.delivery.cursors.user = undefined
          this.register(connection)
        } else {
          connection.user = user
        }
      },
    }

    this.wss = new WebSocketServer({
      ...(config.server ? { server: config.server } : { port: config.port, host: config.host }),
      ...(config.path === undefined ? {} : { path: config.path }),
      maxPayload: config.maxPayload,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL_V2) ? SUBPROTOCOL_V2 : false),
    })
    this.wss.on('connection', (ws, request) => this.accept(ws, request))
    this.wss.on('error', (error) => this.report(error))

    const bound = whenListening(config.server ?? this.wss)
    this.subscription = this.adapterReady.then(
      (resolved) => resolved.subscribe(this.id, (envelope) => this.receiveEnvelope(envelope)),
      () => undefined,
    )
    this.subscription.catch((error: unknown) => this.report(toError(error)))
    this.ready = Promise.all([bound, this.adapterReady, this.subscription]).then(() => undefined)
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
    return this.resolvedAdapter?.namespace ?? this.config.namespace ?? 'mesa'
  }

  /** The adapter in use (replication, presence, redelivery store, portal queue); undefined while a Redis one loads. */
  get adapter(): Adapter | undefined {
    return this.resolvedAdapter
  }

  /** Every connected client of this server (Mesa 1.x `server.clients`); a new array on each call. */
  get clients(): ServerClient<In, Out, User>[] {
    return [...this.clientOf.values()]
  }

  /** Number of open sockets on this server. */
  get connectionCount(): number {
    return this.connections.size
  }

  /** Adds middleware: `mesa.use(server => ({ onMessageReceived(message, client) { ... } }))`. */
  use(middleware: Middleware<In, Out, User>): this {
    if (typeof middleware !== 'function') throw new TypeError('mesa.use() takes a function (server) => handlers')
    const handlers = middleware(this)
    if (typeof handlers !== 'object' || handlers === null) {
      throw new TypeError('a middleware must return an object of handlers (onConnection, onMessageSent, ...)')
    }
    this.middleware.add(handlers)
    this.authentication.setReplayed(
      this.middleware.has('onRedeliverUndeliverableMessages')
        ? (connection, messages) =>
            this.middleware.run('onRedeliverUndeliverableMessages', messages, this.clientOf.get(connection)!)
        : undefined,
    )
    if (this.middleware.has('onPortalJoin') || this.middleware.has('onPortalLeave')) this.watchPortals()
    return this
  }

  /**
   * Sends a message: no `recipients` = every socket, `['*']` = every authenticated user, else those user ids
   * (each on every socket they have, on every server sharing the adapter); `excluding` user ids do not get it.
   * With `sync.enabled` a synced message is stored first: the promise resolves once it is stored and
   * published, and rejects with `StoreError` (store: nobody got it) or `AdapterError` (publish) otherwise. After
   * an `AdapterError` a synced message is stored and reaches other servers' recipients through redelivery:
   * sending it again would deliver it twice.
   * `new Message(5, {}, 'DISCONNECT_CLIENT')` closes the recipients' sockets everywhere instead.
   */
  send(message: Sendable<Out>, recipients?: readonly string[], excluding?: readonly string[]): Promise<void> {
    const sending = this.closing
      ? Promise.reject(new ConnectionClosedError('the server is closed'))
      : this.outbound.send(message, recipients, excluding)
    // The caller gets the rejection; this keeps an unawaited send from becoming an unhandled rejection.
    sending.catch((error: unknown) => this.report(toError(error)))
    return sending
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
    const closed = [...this.connections].map(
      (connection) => new Promise<void>((resolve) => connection.ws.once('close', () => resolve())),
    )
    for (const connection of this.connections) connection.close(code, reason)
    if (closed.length > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          for (const connection of this.connections) connection.ws.terminate()
          resolve()
        }, SHUTDOWN_GRACE_MS)
      })
      await Promise.race([Promise.all(closed), grace])
      clearTimeout(timer)
      await Promise.all(closed)
    }
    await new Promise<void>((resolve) => this.wss.close(() => resolve()))
    const unsubscribe = await this.subscription.catch(() => undefined)
    await unsubscribe?.().catch((error: unknown) => this.report(toError(error)))
    const unwatch = await this.portalMembership
    await unwatch?.().catch((error: unknown) => this.report(toError(error)))
    if (this.ownsAdapter) {
      const adapter = await this.adapterReady.catch(() => undefined)
      await adapter?.close().catch((error: unknown) => this.report(toError(error)))
    }
  }

  private accept(ws: WebSocket, request: IncomingMessage): void {
    if (this.closing) {
      ws.close(CloseCode.GoingAway, 'server shutting down')
      return
    }
    const protocol = ws.protocol === SUBPROTOCOL_V2 ? 2 : 1
    const connection: Connection<User> = new Connection<User>(
      nanoid(),
      ws,
      protocol,
      request,
      Date.now(),
      this.writer,
      (error) => this.report(error, connection),
      this.readGap,
    )
    const client = new ServerClient<In, Out, User>(connection, this.clientHost)
    this.connections.add(connection)
    this.clientOf.set(connection, client)
    ws.on('message', (data, isBinary) => this.receive(connection, data, isBinary))
    ws.on('close', (code, reason) => this.closed(connection, code, reason.toString()))
    ws.on('error', (error) => this.socketError(connection, error))
    connection.write(protocol === 2 ? this.hello.v2 : this.hello.v1)
    this.sweep.add(connection)
    if (this.config.authentication.required) this.sweep.expectAuthentication(connection, connection.connectedAt)
    this.safeEmit('connection', client)
    this.middleware.run('onConnection', client)
    this.portal({ kind: 'connection', clientId: connection.socketId, serverId: this.id, time: Date.now() })
  }

  private receive(connection: Connection<User>, data: RawData, isBinary: boolean): void {
    if (connection.closed) return
    const read = readClientFrame(data, isBinary)
    if (!read.ok) {
      this.reject(connection, read.error)
      return
    }
    const { frame } = read
    if (frame.op === Opcode.HeartbeatAck) this.sweep.ack(connection)
    else if (frame.op === Opcode.Authenticate) this.authentication.receive(connection, frame)
    else this.receiveMessage(connection, frame)
  }

  private receiveMessage(connection: Connection<User>, frame: Frame): void {
    const { client: clientRules, authentication, options } = this.config
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
    const client = this.clientOf.get(connection)!
    const message = frameToMessage(frame) as MessageOf<In>
    if (options.storeMessages) remember(client.messages.received, message)
    this.safeEmit('message', message, client)
    try {
      client.emit('message', message)
    } catch (error) {
      this.report(toError(error), connection)
    }
    this.middleware.run('onMessageReceived', message, client)
    const event: PortalEvent = { kind: 'message', clientId: connection.socketId, serverId: this.id, frame, time: Date.now() }
    if (connection.userId !== undefined) event.userId = connection.userId
    this.portal(event)
  }

  private reject(connection: Connection<User>, error: ProtocolError): void {
    this.report(error, connection)
    connection.close(error.closeCode, error.message)
  }

  private socketError(connection: Connection<User>, error: Error & { code?: string }): void {
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      // ws has already closed the socket with 1009.
      this.report(
        new ProtocolError('payload-too-large', CloseCode.MessageTooBig, `frame larger than maxPayload (${this.config.maxPayload} bytes)`),
        connection,
      )
      return
    }
    this.report(new MesaError('socket-error', `socket error: ${error.message}`, { cause: error }), connection)
  }

  private closed(connection: Connection<User>, code: number, reason: string): void {
    if (connection.closed) return
    connection.closed = true
    this.sweep.remove(connection)
    connection.delivery.dispose()
    this.unregister(connection)
    this.connections.delete(connection)
    const client = this.clientOf.get(connection)!
    this.clientOf.delete(connection)
    try {
      client.emit('disconnect', code, reason)
    } catch (error) {
      this.report(toError(error), connection)
    }
    this.safeEmit('disconnection', code, reason, client)
    this.middleware.run('onDisconnection', client, code, reason)
    const event: PortalEvent = { kind: 'disconnection', clientId: connection.socketId, serverId: this.id, time: Date.now() }
    if (connection.userId !== undefined) event.userId = connection.userId
    this.portal(event)
  }

  /** The socket receives its user's messages from now on. */
  private register(connection: Connection<User>): void {
    const userId = connection.userId!
    connection.authenticated = true
    this.sweep.authenticated(connection)
    this.index.add(userId, connection)
    if (this.config.authentication.storeConnectedUsers) {
      this.withAdapter((adapter) => adapter.presence.join(userId, connection.socketId), connection)
    }
  }

  private unregister(connection: Connection<User>): void {
    const userId = connection.userId
    if (!connection.authenticated || userId === undefined) return
    this.index.remove(userId, connection)
    if (this.config.authentication.storeConnectedUsers) {
      this.withAdapter((adapter) => adapter.presence.leave(userId, connection.socketId), connection)
    }
  }

  /** Runs `task` once the adapter is there (a Redis one may still be loading), in call order; failures are reported. */
  private withAdapter(task: (adapter: Adapter) => Promise<unknown>, connection?: Connection<User>): void {
    this.adapterReady.then(task).catch((error: unknown) => this.report(toError(error), connection))
  }

  private sendToClient(connection: Connection<User>, message: MessageOf<Out>): Promise<void> {
    if (connection.authenticated && connection.userId !== undefined) return this.send(message, [connection.userId])
    try {
      this.outbound.sendToSocket(connection, message)
      return Promise.resolve()
    } catch (error) {
      this.report(toError(error), connection)
      const rejected = Promise.reject(error)
      rejected.catch(() => {})
      return rejected
    }
  }

  private sent(connections: Connection<User>[], message: Message<string, object>, fromHere: boolean): void {
    const clients = connections.map((connection) => this.clientOf.get(connection)!)
    if (this.config.options.storeMessages) for (const client of clients) remember(client.messages.sent, message)
    this.middleware.run('onMessageSent', message, clients, fromHere)
  }

  private receiveEnvelope(envelope: Envelope): void {
    if (this.closing) return
    try {
      this.outbound.receive(envelope)
    } catch (error) {
      this.report(toError(error))
    }
  }

  /**
   * One watch for the server's life, started by the first middleware that wants it: servers without those
   * hooks open nothing for it (on Redis, a connection and a timer).
   */
  private watchPortals(): void {
    if (this.portalMembership || this.closing) return
    this.portalMembership = this.adapterReady.then(
      (adapter) =>
        adapter.portal
          .watchMembers((event) => this.portalMembershipChanged(event))
          .catch((error: unknown) => {
            this.report(toError(error))
            return undefined
          }),
      // The constructor reports an adapter that could not be created.
      () => undefined,
    )
  }

  private portalMembershipChanged(event: PortalMembershipEvent): void {
    if (this.closing) return
    this.middleware.run(event.kind === 'join' ? 'onPortalJoin' : 'onPortalLeave', event.portalId)
  }

  private portal(event: PortalEvent): void {
    if (this.config.portal.enabled) this.withAdapter((adapter) => adapter.portal.push(event))
  }

  /** Reports a failure through `error` (on the client too) and the `onError` middleware. */
  private report(error: Error, connection?: Connection<User>): void {
    const client = connection === undefined ? undefined : this.clientOf.get(connection)
    if (client) {
      try {
        client.emit('error', error)
      } catch {
        // A throwing client error listener must not hide the server's report.
      }
    }
    this.emitError(error, client)
    this.middleware.run('onError', error, client)
  }

  private emitError(error: Error, client?: ServerClient<In, Out, User>): void {
    try {
      this.emit('error', error, client)
    } catch {
      // The application's error listener threw; there is nobody left to tell.
    }
  }

  private safeEmit<K extends 'connection' | 'message' | 'disconnection'>(
    event: K,
    ...args: MesaEvents<In, Out, User>[K]
  ): void {
    try {
      this.emit(event, ...args)
    } catch (error) {
      this.report(toError(error))
    }
  }
}
