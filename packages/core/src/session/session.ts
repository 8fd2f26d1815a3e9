import { type BackoffSettings, backoffDelay, backoffSettings } from '../backoff.js'
import { checkNumber, invalidOption } from '../check-number.js'
import type { BackoffOptions } from '../backoff.js'
import { isTerminalCloseCode } from '../close-codes.js'
import type { Frame } from '../codec.js'
import { TypedEmitter } from '../emitter.js'
import {
  AuthenticationError,
  ConnectionClosedError,
  MesaError,
  ProtocolError,
  QueueFullError,
  SubscriptionError,
} from '../errors.js'
import { type ChannelMap, Message, type MessageMap, type MessageOf } from '../message.js'
import { type HelloRule, SUBPROTOCOL_V2 } from '../protocol-version.js'
import {
  exposedReplyError,
  type ReplyData,
  RequestError,
  type RequestErrorCode,
  type RequestMap,
  type RequestReply,
  requestErrorOf,
  type UntypedRequests,
} from '../requests.js'
import type { AuthenticationResult, ResumePositions, ResyncReason, StreamPosition } from '../stream-position.js'
import { now } from './clock.js'
import { isFrame, isObject } from './frame.js'
import { helloDuration } from './hello.js'
import type { SessionState } from './session-state.js'
import { readPositions, STREAM_KINDS } from './stream-positions.js'
import {
  type SubscribeOptions,
  Subscription,
  type UntypedChannels,
  type UntypedMessages,
} from './subscription.js'
import { OPEN, type WebSocketLike, type WebSocketTransport } from './websocket.js'
import {
  AUTHENTICATE,
  AUTHENTICATE_ACK,
  AUTHENTICATION_FAILED,
  AUTHENTICATION_TIMEOUT,
  DISPATCH,
  HEARTBEAT,
  HEARTBEAT_ACK_FRAME,
  HELLO,
  INVALID_FRAME,
  NORMAL_CLOSURE,
  PRESENCE,
  REAUTHENTICATE,
  REPLY,
  REQUEST,
  SERVER_UNRESPONSIVE,
  SUBSCRIBE,
  SUBSCRIBED,
  UNSUBSCRIBE,
  UNSUBSCRIBED,
  VERSION,
} from './wire.js'

export interface SessionOptions {
  /** Open the connection in the constructor. Default true. */
  autoConnect?: boolean
  /**
   * Reconnect on its own after the connection closes, except after `disconnect()` and after close codes that
   * forbid it (`isTerminalCloseCode`: 1002, 1008, 4004, 4009). Default true.
   */
  reconnect?: boolean
  /**
   * Reconnect delays: exponential with full jitter. Defaults `{ base: 1000, factor: 2, max: 30000,
   * resetAfter: 5000 }`; a server that announces `c_reconnect_interval` replaces `base` with it.
   */
  backoff?: BackoffOptions
  /**
   * ms of silence tolerated beyond the server's announced heartbeat interval before the server counts as
   * unresponsive (close 4005, then reconnect). Default: half the interval, at least 1000.
   */
  heartbeatGrace?: number
  /**
   * ms to wait for the answer to an authentication before `authenticate()` rejects with a `timeout` error and
   * the connection is renewed. Default: the server's `c_authentication_timeout`, else 10000.
   */
  authenticationTimeout?: number
  /**
   * Messages kept while they cannot be sent, and acknowledged sends until their acknowledgement; beyond it
   * `send()` throws `QueueFullError` (an acknowledged send rejects with it). Default 1000.
   */
  maxQueueSize?: number
  /**
   * Total length of what `maxQueueSize` counts, as the serialized frames' lengths (UTF-16 code units: bytes for
   * ASCII text); `send()` throws `QueueFullError` beyond. Default 1048576 (1 MiB).
   */
  maxQueueBytes?: number
  /**
   * Answers awaited at once (requests, acknowledged sends, subscriptions): `request()` and acknowledged sends
   * reject with `RequestError` `too-many-requests` beyond. Default 1000.
   */
  maxPending?: number
  /** Sent as `CLIENT_VERSION` to servers with the `enforce_equal_versions` rule. Default `'2'`. */
  version?: string
  /** Positions to resume from, e.g. `client.positions` persisted by an earlier run. Default none. */
  positions?: ResumePositions
  /**
   * Called before every authentication (the first, each one after a reconnect, and each renewal the server asks
   * for): its result is merged over the data given to `authenticate()`, so that a reconnect presents a fresh
   * token. A rejection fails that authentication (`AuthenticationError` `credentials`). Default none.
   */
  getCredentials?: () => Record<string, unknown> | Promise<Record<string, unknown>>
}

export interface AuthenticateOptions {
  /**
   * Mesa 1.x redelivery: `true` replays what was stored while the user was away, `false` drops it. Protocol 2
   * clients also resume from their stream positions only when this is true. Default true.
   */
  shouldSync?: boolean
}

export interface RequestOptions {
  /** ms to wait for the reply before rejecting with `RequestError` `timeout`; 0 waits as long as it takes. Default 10000. */
  timeout?: number
}

export interface SendOptions {
  /**
   * Resolve when the server has accepted the message (its handlers ran, or a portal queue stored it). Kept and
   * sent again with the same id after every reconnect until then; the server sees it once. Default false.
   */
  ack?: boolean
  /** With `ack`: ms to wait for the acknowledgement before rejecting with `RequestError` `timeout`. Default 0 (none). */
  timeout?: number
}

export interface ConnectionInfo {
  /** First connection of this client object. */
  isInitialConnection: boolean
  /** First connection since the client was created or last `disconnect()`ed. */
  isInitialSessionConnection: boolean
  /** The connection is a reconnect the client made on its own. */
  isAutomaticReconnection: boolean
}

export interface DisconnectionInfo {
  willAttemptReconnect: boolean
  /** ms until the next attempt, when there is one. */
  delay?: number
}

/**
 * Answers a request of the server (op 40) with its reply (`RequestReply`), or a promise of it. Throwing or
 * rejecting answers with an error: its `code` and `message` when the error is marked `expose: true`
 * (`RequestRejection`), else a generic `rejected` (and the error goes to the client's `error` event).
 */
export type RequestHandler<R extends RequestMap<R>, K extends keyof R & string = keyof R & string> = (
  message: Message<K, R[K]['request']>,
) => RequestReply<R[K]['reply']> | Promise<RequestReply<R[K]['reply']>>

/** A subscription to any channel of `C`. */
export type SubscriptionOf<C extends ChannelMap<C>> = { [K in keyof C & string]: Subscription<C[K]> }[keyof C & string]

export interface SessionEvents<
  In extends MessageMap<In> = UntypedMessages,
  User = unknown,
  Channels extends ChannelMap<Channels> = UntypedChannels,
> {
  /** The socket opened. */
  connected: [info: ConnectionInfo]
  /** Same as `connected` (the spelling of Mesa 1.x's README). */
  connection: [info: ConnectionInfo]
  /** An application message (op 0); a synced one only once, in order. */
  message: [message: MessageOf<In>]
  disconnected: [code: number, reason: string, info: DisconnectionInfo]
  /** The server accepted the credentials (also after each automatic re-authentication). */
  authenticated: [result: AuthenticationResult<User>]
  /** Missed messages could not be replayed: reload the application's state. `streams`: the new positions. */
  resync: [reason: ResyncReason | undefined, streams: ResumePositions]
  /** The server subscribed this socket to a channel (its `subscribed` event follows). */
  subscription: [subscription: SubscriptionOf<Channels>]
  error: [error: Error]
  stateChange: [state: SessionState, previous: SessionState]
}

type Timer = ReturnType<typeof setTimeout> | undefined

/** Callers waiting on a promise of the session, told the error or the value. */
type Waiters = ((error?: Error, value?: unknown) => void)[]

/** A promise settled by the next `settle(waiters)`. */
const wait = <T>(waiters: Waiters) =>
  new Promise<T>((resolve, reject) => waiters.push((error, value) => (error ? reject(error) : resolve(value as T))))

const settle = (waiters: Waiters, error?: Error, value?: unknown) => {
  for (const waiter of waiters.splice(0)) waiter(error, value)
}

/** A failed answer: op 41's `x.err` (read leniently), or one the session gives itself (its message is its code). */
type Failure = { code: string; message?: string }

// Failures the session gives itself that no server answers with, compared by identity.
const LOST: Failure = { code: 'connection-lost' }
const UNSUPPORTED: Failure = { code: 'unsupported' }

/**
 * Rejects a request or an acknowledged send with its failure as a `RequestError` (what the server answered read
 * by `requestErrorOf`, as the server reads its clients' answers), or an error as it is (`QueueFullError`).
 */
const requestError = (failure: Failure | Error): never => {
  throw failure instanceof Error
    ? failure
    : failure === LOST || failure === UNSUPPORTED
      ? new RequestError(failure.code as RequestErrorCode)
      : requestErrorOf(failure)
}

/**
 * Answers to an acknowledged send after which it is sent again (docs/architecture.md): another attempt is being
 * handled (`busy`), or the server cannot take it now.
 */
const RETRIED: readonly unknown[] = ['busy', 'unavailable', 'too-many-requests']

/** The frame writer of everything but messages (`Message#serialize`): JSON leaves out what is undefined. */
const frameOf = (op: number, d: object, t?: string, x?: object): string => JSON.stringify({ op, d, t, x })

/**
 * Protocol 2's fields of a server frame (`x`), typed as a server sends them. They are read leniently, without
 * checking each type first: a field of another type matches nothing (a lookup, a comparison) or reads as absent.
 */
interface Extensions {
  /** Op 10. */
  protocol?: number
  /** Op 22: the heads of the client's streams (checked by `readPositions`). */
  streams?: unknown
  /** Op 22 and 31: whether what the client resumed from was replayed, and why not. Op 33: why it ended. */
  recovered?: boolean
  reason?: ResyncReason
  /** Op 0: the global stream (`'g'`), or the channel of a publication. */
  st?: string
  ch?: string
  /** Op 33: the failure, when the server refused to renew a subscription (op 2's `x.ch`). */
  code?: string
  /** Op 31 and 41: the id answered, and the failure. */
  re?: number
  err?: Failure
  /** Op 31: the channel's head (checked by `readPositions`), and whether the server made the subscription. */
  pos?: unknown
  srv?: boolean
  /** Op 40: the request's id. */
  id?: number
}

/**
 * What the queue holds (`f`: the frame), and the pending-answer table (with `s`). Short field names: they are
 * properties of plain objects, which the browser build does not mangle, and this is in its size budget.
 */
interface Outgoing {
  /** The frame while it is to be written: a plain message's and a request's until written, an acknowledged send's until acknowledged. */
  f?: string | undefined
  /** An acknowledged send: stays queued once written, and is written again after every reconnect. */
  a?: boolean
  /** In the pending-answer table: settles the caller with a failure or the answer frame, once. */
  s?: (failure?: Failure, frame?: Frame) => void
}

/** An entry of the pending-answer table. */
type Pending = Outgoing & Required<Pick<Outgoing, 's'>>

/**
 * The client side of a Mesa connection, shared by the Node and browser clients. Transport-agnostic: it opens
 * sockets through `transport`, a factory of `ws`'s `WebSocket` (the Node client) or, by default, of the native
 * `WebSocket`: the browser client is this class as it is, without a constructor or code of its own.
 *
 * Written for the browser client's size budget (packages/client-browser/README.md, "Size"): state lives in
 * `_`-prefixed private properties, which the browser build mangles to one or two characters (a property left
 * undefined until used is `declare`d: no initializer), rather than in helper objects whose method names would be
 * public, and steps with a single caller (reading a frame, dropping replays, adopting heads) are written in place.
 * Everything that expects an answer (subscribe, unsubscribe, requests, acknowledged sends, renewed credentials)
 * shares one pending-answer table, and everything outgoing one queue.
 */
export class ClientSession<
  In extends MessageMap<In> = UntypedMessages,
  Out extends MessageMap<Out> = In,
  User = unknown,
  Channels extends ChannelMap<Channels> = UntypedChannels,
  Requests extends RequestMap<Requests> = UntypedRequests,
> extends TypedEmitter<SessionEvents<In, User, Channels>> {
  declare readonly url: string
  /** Rules of the last hello (1.x: `enforce_equal_versions`, `store_messages`, `sends_user_object`). */
  rules: readonly string[] = []
  private declare _ws: WebSocketLike | undefined
  /** The hello of the current socket (op 10's data); undefined until it arrives. */
  private declare _hello: Frame['d'] | undefined
  /** The current socket negotiated protocol 2 (subprotocol accepted and announced in the hello). */
  private declare _v2: boolean | undefined
  private _state: SessionState = 'closed'
  /** Positions sent in the pending authentication's `x.resume`. */
  private declare _resumed: ResumePositions | undefined
  /** Callers waiting in `connect()`. */
  private readonly _waiters: Waiters = []
  /** A socket of this client object opened (`isInitialConnection` is false from then on). */
  private declare _connected: boolean | undefined
  /** A socket opened since the client was created or last `disconnect()`ed. */
  private declare _sessionConnected: boolean | undefined
  /**
   * What to authenticate with, op 2's data (`{ ...data, shouldSync }` as in 1.x); kept so that reconnects
   * re-authenticate on their own.
   */
  private declare _credentials: { shouldSync: boolean } | undefined
  /** The credentials were accepted once: after a reconnect, outgoing messages wait for re-authentication. */
  private declare _accepted: boolean | undefined
  /** The caller waiting on `authenticate()`. */
  private readonly _authWaiters: Waiters = []
  /** Bounds the wait for the answer to the credentials on the wire. */
  private declare _authTimer: Timer
  private declare _reconnectTimer: Timer
  /**
   * Reconnect delays; `base` becomes the server's reconnect interval once announced. Settings and a count rather
   * than a `Backoff`: the session also decides when a connection was stable enough to start counting again.
   */
  private declare readonly _backoff: BackoffSettings
  /** Reconnect attempts since the last stable connection. */
  private _attempt = 0
  /** When the current connection opened (`now()`), undefined while there is none. */
  private declare _openedAt: number | undefined
  private declare readonly _transport: WebSocketTransport
  private declare readonly _options: SessionOptions
  /**
   * Everything outgoing, in order, bounded by `maxQueueSize`: plain messages and requests until written,
   * acknowledged sends until acknowledged. The first `_written` are acknowledged sends written on this socket:
   * the queue is written in order and everything else leaves it when written, so they are always its head.
   */
  private readonly _queue: Outgoing[] = []
  private _written = 0
  /** Sum of the queued frames' lengths, bounded by `maxQueueBytes`. */
  private _queueBytes = 0
  /** The last delivered position in each redelivery stream. */
  private declare readonly _streams: ResumePositions
  // Dead-server detection. Liveness is a timestamp compared when the one timer fires, never a count of timer
  // ticks, so timers that a background tab throttles or a sleeping laptop suspends cannot add up to a false
  // alarm. Properties of the session rather than a monitor object of its own: fewer bytes in the browser bundle.
  /** When the server last said something (`now()`). */
  private declare _lastFrame: number
  /** Longest silence tolerated (heartbeat interval plus grace); undefined while not watching. */
  private declare _silenceLimit: number | undefined
  private declare _silenceTimer: Timer
  /** The silence check already gave the event loop one extra round before deciding. */
  private declare _deferred: boolean
  /**
   * The pending-answer table: what was sent with an `x.id`, until the frame with that `x.re` (op 31 or 41). Ids
   * count up per client object, not per connection: an acknowledged send keeps its id across reconnects, and a
   * later request must not take it.
   */
  private readonly _pending = new Map<unknown, Pending>()
  private _id = 0
  /**
   * This client object's id (`x.cid` in op 2), under which the server deduplicates acknowledged sends: 128 random
   * bits, as four decimal numbers joined by `-` (the server takes 1 to 64 letters, digits, `_` or `-`).
   */
  private readonly _cid = crypto.getRandomValues(new Uint32Array(4)).join('-')
  /** Subscriptions by channel: the client's own (renewed after reconnects) and the server's. */
  private readonly _subs = new Map<unknown, Subscription>()
  /** Handlers of the server's requests by type; `undefined` takes any type. */
  private readonly _handlers = new Map<unknown, RequestHandler<Requests>>()
  /** Listens for the `online` event of a browser's window or worker while the session is not closed (`_setState`). */
  private readonly _online = () => this.reconnectNow()

  /**
   * `transport` opens the sockets: the native `WebSocket` unless given (the Node client gives `ws`'s). Options
   * second, so that the browser client, which takes `(url, options)`, needs no constructor of its own.
   */
  constructor(
    url: string,
    options: SessionOptions = {},
    transport: WebSocketTransport = (address, protocols) => new WebSocket(address, protocols),
  ) {
    super()
    if (typeof url !== 'string') throw invalidOption('url', url)
    for (const key of ['heartbeatGrace', 'authenticationTimeout', 'maxQueueSize', 'maxQueueBytes', 'maxPending'] as const) {
      checkNumber(key, options[key])
    }
    this.url = url
    this._transport = transport
    this._options = options
    this._streams = readPositions(options.positions)
    this._backoff = backoffSettings(options.backoff)
    if (options.autoConnect !== false) this._open(false)
  }

  get state(): SessionState {
    return this._state
  }

  /** The last delivered position in each redelivery stream: persist it to resume across restarts. */
  get positions(): ResumePositions {
    return readPositions(this._streams)
  }

  /** Messages waiting to be sent, and acknowledged sends waiting for their acknowledgement. */
  get queued(): number {
    return this._queue.length
  }

  /** Protocol of the current connection: 2 when the server negotiated `mesa.v2`, else 1 (Mesa 1.x). */
  get protocol(): number {
    return this._v2 ? 2 : 1
  }

  /** The subscriptions by channel, the client's and the server's (a live view). */
  get subscriptions(): ReadonlyMap<string, SubscriptionOf<Channels>> {
    return this._subs as never
  }

  /**
   * Opens the connection; resolves once it is open. Already open: resolves at once. Waiting for a reconnect:
   * tries now. Rejects when this attempt closes before opening (reconnects go on as configured).
   */
  async connect(): Promise<void> {
    if (this._ws?.readyState === OPEN) return
    // Async: a transport that cannot open the URL rejects the promise.
    if (!this._ws) this._open(false)
    return wait(this._waiters)
  }

  /**
   * Sends a message now, or queues it while there is no connection (or, after a reconnect, until the session
   * is authenticated again). Queued as its frame, serialized now: the bound counts it, and a message the
   * application changes afterwards goes out as it was sent.
   *
   * With `{ ack: true }` (protocol 2) it returns a promise, resolved when the server acknowledges the message; it
   * stays queued until then, written again with the same id after every reconnect. Rejects with `RequestError`
   * (`unsupported` against Mesa 1.x, `rejected`, `too-many-requests`, `timeout` when given one) or
   * `QueueFullError`.
   * @throws QueueFullError when `maxQueueSize` messages or `maxQueueBytes` of frames are already queued.
   */
  send(message: MessageOf<Out>): void
  send(message: MessageOf<Out>, options: SendOptions & { ack: true }): Promise<void>
  send(message: MessageOf<Out>, options?: SendOptions): Promise<void> | undefined
  send(message: MessageOf<Out>, options?: SendOptions): Promise<void> | undefined {
    if (options?.ack) return this._ask(DISPATCH, message.data, message.type, {}, options.timeout, true).then(() => {}, requestError)
    this._enqueue({ f: message.serialize() })
  }

  /**
   * Sends a request (op 40, protocol 2) and resolves with the reply. A request made while the session cannot send
   * waits in the queue; once written it is never sent again (it may not be idempotent).
   * The message needs a type. Rejects with `RequestError`: `timeout` (default 10 s), `rejected` (`rejection`: the
   * handler's code), `no-handler`, `connection-lost`, `too-many-requests`, `unavailable`, `unsupported` (Mesa 1.x
   * server); `QueueFullError` past the queue bounds.
   */
  request<K extends keyof Requests & string>(
    message: Message<K, Requests[K]['request']>,
    options: RequestOptions = {},
  ): Promise<Message<K, ReplyData<Requests[K]['reply']>>> {
    return this._ask(REQUEST, message.data, message.type, {}, options.timeout ?? 10_000, false).then(
      // As the server reads its clients' replies: a dispatch, of the request's type unless the reply names one.
      (frame) => new Message(DISPATCH, frame.d, frame.t ?? message.type) as never,
      requestError,
    )
  }

  /**
   * Answers the server's requests of `type` (or, given only a handler, of every type without a handler of its
   * own) with what `handler` returns. Returns a function that removes the handler.
   */
  onRequest<K extends keyof Requests & string>(type: K, handler: RequestHandler<Requests, K>): () => void
  onRequest(handler: RequestHandler<Requests>): () => void
  onRequest(type: string | RequestHandler<Requests>, handler?: RequestHandler<Requests>): () => void {
    const key = handler ? type : undefined
    this._handlers.set(key, (handler ?? type) as RequestHandler<Requests>)
    return () => this._handlers.delete(key)
  }

  /**
   * Subscribes to `channel` (protocol 2) and returns the subscription (the same object while subscribed). It is
   * asked for as soon as the session can (after an authentication in progress) and again after every reconnect,
   * from its position. A refusal is the subscription's `error` event.
   */
  subscribe<K extends keyof Channels & string>(channel: K, options: SubscribeOptions = {}): Subscription<Channels[K]> {
    let sub = this._subs.get(channel)
    if (!sub) {
      sub = this._sub(channel, options)
      this._subscribe()
    }
    return sub as never
  }

  /**
   * Authenticates with `data` (merged with `{ shouldSync }` as in 1.x) and resolves with the user object the
   * server returns (op 22's data). The credentials are kept: every reconnect re-authenticates with them.
   * Called while reconnecting, it goes out once the next connection is open.
   * Rejects with `AuthenticationError`: `rejected` (close 1008), `timeout`, `closed` (a connection closed
   * first, or the session is closed), `superseded` (a later call replaced this one).
   */
  async authenticate(data: Record<string, unknown> = {}, options: AuthenticateOptions = {}): Promise<User> {
    if (this._state === 'closed') throw new AuthenticationError('closed')
    this._settleAuth(new AuthenticationError('superseded'))
    this._credentials = { ...data, shouldSync: options.shouldSync ?? true }
    this._accepted = false
    const promise = wait<User>(this._authWaiters)
    if (this._hello) this._sendCredentials()
    return promise
  }

  /** Closes the connection for good: no reconnect, credentials forgotten. Queued messages stay queued. */
  disconnect(code: number = NORMAL_CLOSURE, reason = ''): void {
    clearTimeout(this._reconnectTimer)
    this._attempt = 0
    this._sessionConnected = false
    this._forget(new AuthenticationError('closed'))
    this._drop(code, reason, false)
  }

  /**
   * Skips the wait before the next reconnect attempt (e.g. on the browser's `online` event). Never throws: a
   * transport that cannot open the URL any more is an `error` event (and the session is closed).
   */
  reconnectNow(): void {
    try {
      if (this._state === 'reconnecting') this._open(true)
    } catch (error) {
      this.emit('error', error as Error)
    }
  }

  private _open(automatic: boolean): void {
    clearTimeout(this._reconnectTimer)
    let ws: WebSocketLike
    try {
      ws = this._transport(this.url, [SUBPROTOCOL_V2])
    } catch (error) {
      // A transport that cannot open this URL will not later either: nothing more is tried.
      this._setState('closed')
      throw invalidOption('url', error)
    }
    this._ws = ws
    this._setState('connecting')
    // Handlers stay attached after the session lets go of a socket (an `error` event without a listener would
    // crash a `ws` socket) but ignore it from then on.
    ws.onopen = () => ws === this._ws && this._opened(automatic)
    ws.onmessage = (event) => ws === this._ws && this._received(event.data)
    ws.onclose = (event) => ws === this._ws && this._closed(event.code, event.reason, true)
    ws.onerror = (event) => {
      const error = (event as { error?: unknown } | undefined)?.error
      if (ws === this._ws) this.emit('error', error instanceof Error ? error : new MesaError('socket-error'))
    }
  }

  private _opened(automatic: boolean): void {
    this._openedAt = now()
    // Before any event: a message a listener sends must not overtake the ones queued earlier.
    this._flush()
    this._setState('open')
    const info: ConnectionInfo = {
      isInitialConnection: !this._connected,
      isInitialSessionConnection: !this._sessionConnected,
      isAutomaticReconnection: automatic,
    }
    this._connected = this._sessionConnected = true
    settle(this._waiters)
    this.emit('connected', info)
    this.emit('connection', info)
  }

  private _received(data: unknown): void {
    this._alive()
    let frame: unknown
    try {
      frame = JSON.parse(data as string)
    } catch {}
    // Not text (a binary frame: JSON.parse reads a ws Buffer's bytes or a browser's "[object Blob]", either way
    // rejected here), not JSON, or not a Mesa frame.
    if (typeof data !== 'string' || !isFrame(frame)) {
      this.emit('error', new ProtocolError('invalid-frame', INVALID_FRAME))
      return
    }
    const { op, d, t, s, o } = frame
    const x: Extensions = frame.x ?? {}
    const sub = this._subs.get(t)
    if (op === HEARTBEAT) this._write(HEARTBEAT_ACK_FRAME)
    else if (op === HELLO) this._greeted(d, x)
    else if (op === AUTHENTICATE_ACK) this._acknowledged(d as User, x)
    else if (op === DISPATCH) {
      // Exactly-once delivery: a v2 message at or below its stream's position is a replay or a duplicate, and
      // a new one advances the position (1.x numbers each redelivery batch from 1, so its `s` cannot be used).
      // While a resume is pending the replay that follows brings the message in order: taking it now would move
      // the position past the messages missed before it. A stream without a position takes everything.
      // A channel's publication (`x.ch`, sent to protocol 2 sockets only) is in its subscription's stream, and
      // counts once the subscription's op 31 came on this socket (its replay follows that).
      const channel = this._subs.get(x.ch)
      if (x.ch != null && channel?._asked !== 2) return
      // A message without `s` is in no stream: only one with a sequence number has a position to check.
      const position = s != null && (channel ? channel.position : this._v2 && this._streams[x.st === 'g' ? 'global' : 'user'])
      if (position) {
        if ((!channel && this._credentials && this._state !== 'authenticated') || s! <= position.seq) return
        position.seq = s!
      }
      // Either emitter: both have a `message` event of a message.
      ;((channel ?? this) as TypedEmitter<{ message: [Message] }>).emit('message', new Message(op, d, t ?? undefined, o ?? undefined, s ?? undefined))
    } else if (!this._v2) {
      // Protocol 2's opcodes mean nothing on a 1.x connection.
    } else if (op === SUBSCRIBED || op === REPLY) {
      const entry = this._pending.get(x.re)
      // An acknowledged send the server could not take yet is sent again shortly (no timer to clear: it only writes
      // what is still pending, on a socket that may take it then).
      if (entry?.a && RETRIED.includes(x.err?.code)) setTimeout(() => this._pending.has(x.re) && this._can(true) && this._write(entry.f!), 500)
      else entry?.s(x.err, frame)
      if (op === SUBSCRIBED) this._subscribed(t, sub, x)
    } else if (op === UNSUBSCRIBED) {
      // With `code`: the server refused to renew it (op 2's `x.ch`), a failure like a refused op 30.
      if (sub) this._end(sub, `${x.reason}`, x.code ? { code: x.code, message: `${x.reason}` } : undefined)
    } else if (op === PRESENCE) sub?.emit('presence', d as never)
    else if (op === REAUTHENTICATE) this._sendCredentials(true)
    else if (op === REQUEST) this._answer(d, t, x.id)
  }

  /**
   * Op 31: the answer to op 30 (`re`) or to op 2's `x.ch` (neither `re` nor `srv`), or a subscription the server
   * made (`srv`), which lasts as long as its connection.
   */
  private _subscribed(channel: string | undefined, sub: Subscription | undefined, x: Extensions): void {
    if (!sub && x.srv && channel) {
      sub = this._sub(channel, {}, true)
      this.emit('subscription', sub as never)
    }
    if (!sub) return
    const head = readPositions({ user: x.pos }).user
    const recovered = x.recovered !== false
    // As with the user and global streams: a position the server recovered from stays (the replay follows).
    sub.position = adopt(recovered && sub.position, head) ?? sub.position
    sub._asked = 2
    sub.emit('subscribed', { recovered, reason: x.reason, position: head })
  }

  private _greeted(d: Frame['d'], x: Extensions): void {
    // 1.x rules such as `enforce_equal_versions`; 1.x omits the field when there are none.
    const rules = [d.rules].flat().filter((rule): rule is string => typeof rule === 'string')
    const heartbeatInterval = helloDuration(d, 'c_heartbeat_interval')
    const reconnectInterval = helloDuration(d, 'c_reconnect_interval')
    this._hello = d
    // ws 7 servers (Mesa 1.x) echo any offered subprotocol, so only the hello tells a v2 server apart.
    this._v2 = this._ws!.protocol === SUBPROTOCOL_V2 && x.protocol! >= 2
    this.rules = rules
    // The server's reconnect interval becomes the base delay; the attempts made so far still count.
    if (reconnectInterval) this._backoff.base = reconnectInterval
    if (heartbeatInterval) {
      this._silenceLimit = heartbeatInterval + (this._options.heartbeatGrace ?? Math.max(1000, heartbeatInterval / 2))
      this._alive()
    }
    if (rules.includes('enforce_equal_versions' satisfies HelloRule)) {
      this._write(frameOf(DISPATCH, { v: this._options.version ?? VERSION }, 'CLIENT_VERSION'))
    }
    // A 1.x server has nothing of protocol 2: what waits for it fails (subscriptions as they are asked for), and
    // what is queued behind it can go.
    if (!this._v2) for (const entry of this._pending.values()) entry.s(UNSUPPORTED)
    if (this._credentials) this._sendCredentials()
    this._subscribe()
    this._flush()
  }

  /**
   * Sends the credentials (op 2), merged with fresh ones from `getCredentials`. Protocol 2 adds this client's id,
   * the stream positions to resume from and the subscriptions to renew (`x.ch`). A renewal the server asked for
   * (`refresh`, op 35) goes on the open socket and is answered by op 41, keeping everything.
   */
  private async _sendCredentials(refresh?: boolean): Promise<void> {
    const ws = this._ws
    const credentials = this._credentials
    if (!refresh) {
      this._setState('authenticating')
      clearTimeout(this._authTimer)
      this._authTimer = setTimeout(
        () => {
          this._settleAuth(new AuthenticationError('timeout'))
          this._drop(AUTHENTICATION_TIMEOUT, 'authentication timeout')
        },
        this._options.authenticationTimeout ?? helloDuration(this._hello!, 'c_authentication_timeout') ?? 10_000,
      )
    }
    try {
      const d = { ...credentials!, ...(await this._options.getCredentials?.()) }
      // Meanwhile the socket may have closed, or another authenticate() replaced these credentials.
      if (ws !== this._ws || credentials !== this._credentials) return
      if (refresh) await this._ask(AUTHENTICATE, d, undefined, { cid: this._cid, refresh: true })
      else {
        const resume = readPositions(this._streams)
        this._resumed = this._v2 && d.shouldSync && (resume.user || resume.global) ? resume : undefined
        // JSON leaves out what is undefined: `resume` when there is nothing to resume, `x` on a 1.x connection.
        this._write(frameOf(AUTHENTICATE, d, undefined, this._v2 ? { cid: this._cid, resume: this._resumed, ch: this._subscribe({}) } : undefined))
      }
    } catch (error) {
      // `getCredentials` failed (or the credentials do not serialize), or the server refused a renewal: told here.
      // An authentication then ends as a timeout does (the next connection tries again), a renewal with the
      // server's close (4008). A renewal that lost its connection has nothing to tell.
      if (error !== LOST) this.emit('error', error instanceof Error ? error : new AuthenticationError('rejected', (error as Failure).message))
    }
  }

  private _acknowledged(user: User, ext: Extensions): void {
    // Heads count only as the answer to this socket's authentication, never later (a user update).
    const x = this._state === 'authenticating' && this._v2 ? ext : {}
    const streams = readPositions(x.streams)
    const recovered = x.recovered !== false
    const { reason } = x
    // A stream the session asked to resume keeps its position when the server recovered it: the replay that
    // follows moves it up to the head. Every other stream, or every stream after a failed recovery, starts at
    // the head (a copy: the event hands `streams` out): what came before is not coming.
    for (const kind of STREAM_KINDS) this._streams[kind] = adopt(recovered && this._resumed?.[kind], streams[kind]) ?? this._streams[kind]
    this._resumed = undefined
    this._setState('authenticated')
    this._accepted = true
    // What waited for this answer goes out now (after a first authentication there is nothing).
    this._subscribe()
    this._flush()
    this._settleAuth(undefined, user)
    this.emit('authenticated', { user, recovered, reason, streams })
    if (!recovered) this.emit('resync', reason, readPositions(this._streams))
  }

  private _sub(channel: string, { params, since }: SubscribeOptions, server?: boolean): Subscription {
    // `readPositions` checks and copies the position.
    const sub: Subscription = new Subscription(channel, params, readPositions({ user: since }).user, !!server, () => this._unsubscribe(sub))
    this._subs.set(channel, sub)
    return sub
  }

  /**
   * Asks for every subscription not yet asked for on this socket: in `ch` (op 2's `x.ch`, `{ [channel]: position |
   * null }`, saving a round trip) when given, else with op 30 once the hello is known and no authentication is in
   * progress. Op 2 has no room for params, so subscriptions with params always wait for op 30.
   */
  private _subscribe(ch?: Record<string, StreamPosition | null>): typeof ch {
    for (const sub of this._subs.values()) {
      if (!sub._asked && (ch ? !sub.params : this._hello && this._state !== 'authenticating')) {
        sub._asked = 1
        if (ch) ch[sub.channel] = sub.position ?? null
        else {
          // Against a 1.x server this fails (`unsupported`), after the caller of `subscribe()` could listen.
          this._ask(SUBSCRIBE, sub.params ?? {}, sub.channel, { since: sub.position }).catch((failure: Failure) => {
            if (failure !== LOST) this._end(sub, '', failure)
          })
        }
      }
    }
    return ch
  }

  private async _unsubscribe(sub: Subscription): Promise<void> {
    // Only the socket that was asked has anything to undo (a closed one forgot it; an ended subscription was
    // forgotten here too).
    const asked = sub._asked
    this._end(sub, 'client')
    try {
      if (asked) await this._ask(UNSUBSCRIBE, {}, sub.channel, {})
    } catch (failure) {
      if (failure !== LOST) throw new SubscriptionError((failure as Failure).code as never, (failure as Failure).message)
    }
  }

  /** The subscription is over: forgotten, then its `unsubscribed` event (or `error` with a failure). */
  private _end(sub: Subscription, reason: string, failure?: Failure): void {
    if (this._subs.get(sub.channel) !== sub) return
    this._subs.delete(sub.channel)
    sub._asked = 0
    if (failure) sub.emit('error', new SubscriptionError(failure.code as never, failure.message))
    else sub.emit('unsubscribed', reason)
  }

  /**
   * Answers the server's request (op 40) with the handler's reply (op 41), or with `x.err`: the handler's error
   * when it is marked `expose` (`no-handler` is one too), else a generic one, the real error then going to the
   * `error` event.
   */
  private _answer(d: Frame['d'], t: string | undefined, re: unknown): void {
    const handler = this._handlers.get(t) ?? this._handlers.get(undefined)
    const reply = (d: unknown, t?: string, err?: Failure) => {
      // The server would close the connection over a reply whose data is not an object.
      if (!isObject(d)) throw new TypeError('a reply is an object')
      this._write(frameOf(REPLY, d, t, { re, err }))
    }
    new Promise((resolve) => {
      if (!handler) throw { expose: true, code: 'no-handler', message: t }
      resolve(handler(new Message(REQUEST, d, t) as never))
    })
      .then((answer) => (answer instanceof Message ? reply(answer.data, answer.type) : reply(answer ?? {})))
      .catch((error) => {
        const exposed = exposedReplyError(error)
        reply({}, undefined, exposed ?? { code: 'rejected', message: 'rejected' })
        if (!exposed) this.emit('error', error)
      })
  }

  /** The server just said something. Cheap: no timer is touched while one is pending. */
  private _alive(): void {
    this._lastFrame = now()
    this._deferred = false
    this._silenceTimer ??= this._silenceLimit ? setTimeout(() => this._checkSilence(), this._silenceLimit) : undefined
  }

  private _checkSilence(): void {
    const left = this._silenceLimit! - (now() - this._lastFrame)
    // Time left: check again then. Out of time for the first time: when this process or tab was frozen (or just
    // busy), frames that arrived meanwhile may still wait in the event queue behind this timer. Let them in once
    // before deciding (a frame resets `_deferred`); a live server costs one extra round.
    if (left > 0 || !this._deferred) {
      this._deferred = left <= 0
      this._silenceTimer = setTimeout(() => this._checkSilence(), left)
    } else this._drop(SERVER_UNRESPONSIVE, 'server unresponsive')
  }

  /**
   * Sends `message` with an `x.id` (new, added to `x`) and enters it in the pending-answer table: resolves with the
   * answer's frame, rejects with a `Failure` that the caller turns into its own error. Queued when `queued` is
   * given (requests; acknowledged sends: true), else written at once (subscribe, unsubscribe, a renewal: the caller
   * knows the socket takes protocol 2 now). `timeout` 0 or undefined: no time limit.
   */
  private _ask(op: number, d: object, t: string | undefined, x: object, timeout?: number, queued?: boolean): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const id = ++this._id
      const f = frameOf(op, d, t, { ...x, id })
      let timer: Timer
      const entry: Pending = {
        s: (failure, answer) => {
          clearTimeout(timer)
          this._pending.delete(id)
          this._take(this._queue.indexOf(entry))
          failure ? reject(failure) : resolve(answer!)
        },
      }
      if (this._hello && !this._v2) return reject(UNSUPPORTED)
      if (queued === undefined) this._write(f)
      else if (this._pending.size >= (this._options.maxPending ?? 1000)) return reject({ code: 'too-many-requests' })
      else {
        entry.f = f
        entry.a = queued
        this._enqueue(entry)
      }
      this._pending.set(id, entry)
      if (timeout) timer = setTimeout(() => entry.s({ code: 'timeout' }), timeout)
    })
  }

  /** Queues what is to be sent, within the queue's bounds, and sends what can go. */
  private _enqueue(item: Outgoing): void {
    const { maxQueueSize = 1000, maxQueueBytes = 2 ** 20 } = this._options
    // Bounded by count and by size, so that a long outage cannot exhaust memory.
    if (this._queue.length >= maxQueueSize) throw new QueueFullError(maxQueueSize)
    if (this._queueBytes + item.f!.length > maxQueueBytes) throw new QueueFullError(maxQueueBytes, 'bytes')
    this._queue.push(item)
    this._queueBytes += item.f!.length
    this._flush()
  }

  /**
   * Writes the queue in order from the first frame not yet written on this socket, up to one that cannot go yet
   * (nothing overtakes it). Acknowledged sends stay until acknowledged; the rest leaves when written.
   */
  private _flush(): void {
    for (;;) {
      const item = this._queue[this._written]
      if (!item || !this._can(!!item.s)) return
      this._write(item.f!)
      if (item.a) this._written++
      else {
        this._take(this._written)
        // A written request is settled by its answer or by the end of the connection, never written again.
        item.f = undefined
      }
    }
  }

  /** Takes the item at `at` (if any: -1 is none) out of the queue. */
  private _take(at: number): void {
    if (at < 0) return
    this._queueBytes -= this._queue.splice(at, 1)[0]!.f!.length
    if (at < this._written) this._written--
  }

  /**
   * Whether a frame can be written now: protocol 2 frames (`v2`) need a protocol 2 hello and no authentication in
   * progress; the others an open socket and, once credentials were accepted, an authenticated session.
   */
  private _can(v2: boolean): boolean | undefined {
    return v2
      ? this._v2 && this._state !== 'authenticating'
      : this._ws?.readyState === OPEN && !(this._accepted && this._state !== 'authenticated')
  }

  private _write(data: string): void {
    // Also called from timers and answers that may outlive the socket.
    if (this._ws?.readyState === OPEN) this._ws.send(data)
  }

  /**
   * Lets go of the current socket at once (the session is closed when there is none). Unless this is the end of
   * the session, it does not wait for the close handshake either: the server may be gone.
   */
  private _drop(code: number, reason: string, mayReconnect = true): void {
    const ws = this._ws
    if (!ws) {
      this._setState('closed')
      return
    }
    this._closed(code, reason, mayReconnect)
    try {
      ws.close(code, reason)
    } catch {
      // Not a code a client may send (`disconnect()`); close anyway.
      ws.close()
    }
    if (mayReconnect) ws.terminate?.()
  }

  private _closed(code: number, reason: string, mayReconnect: boolean): void {
    // A connection that stayed up long enough resets the backoff; one that never opened counts as an attempt
    // (`now() - undefined` is NaN, never >= resetAfter).
    if (now() - this._openedAt! >= this._backoff.resetAfter) this._attempt = 0
    clearTimeout(this._silenceTimer)
    this._ws = this._hello = this._openedAt = this._silenceTimer = this._silenceLimit = this._v2 = undefined
    // The next socket writes every unacknowledged send again and asks for every subscription again. What was
    // written and awaits an answer fails (connection lost), and the server's subscriptions end with the socket.
    this._written = 0
    for (const sub of this._subs.values()) {
      sub._asked = 0
      if (sub.server) this._end(sub, 'disconnected')
    }
    for (const entry of this._pending.values()) if (!entry.f) entry.s(LOST)
    if (code === AUTHENTICATION_FAILED) this._forget(new AuthenticationError('rejected', reason || undefined))
    else this._settleAuth(new AuthenticationError('closed'))
    settle(this._waiters, new ConnectionClosedError())
    const retry = mayReconnect && this._options.reconnect !== false && !isTerminalCloseCode(code)
    let delay: number | undefined
    if (retry) {
      delay = backoffDelay(this._backoff, this._attempt++)
      this._reconnectTimer = setTimeout(() => this.reconnectNow(), delay)
    }
    this._setState(retry ? 'reconnecting' : 'closed')
    this.emit('disconnected', code, reason, { willAttemptReconnect: retry, delay })
  }

  /** Settles the caller waiting on `authenticate()`, if any, and stops waiting for an answer on the wire. */
  private _settleAuth(error?: AuthenticationError, user?: User): void {
    clearTimeout(this._authTimer)
    settle(this._authWaiters, error, user)
  }

  /** Forgets the credentials (rejected by the server, or an explicit disconnect). */
  private _forget(error: AuthenticationError): void {
    this._settleAuth(error)
    this._credentials = undefined
    this._accepted = false
  }

  private _setState(state: SessionState): void {
    const previous = this._state
    if (state === previous) return
    this._state = state
    // Reconnect at once when a browser's network returns (`reconnectNow()`), rather than sleeping out a backoff
    // delay that grew while every attempt failed offline. Listening only while not closed leaves nothing behind on
    // `window` once the client is closed; adding the same listener again is a no-op. Without a window or worker
    // global (Node, server-side rendering) there is no `online` event to follow: the optional call does nothing.
    globalThis[state === 'closed' ? 'removeEventListener' : 'addEventListener']?.('online', this._online)
    this.emit('stateChange', state, previous)
  }
}

/**
 * The position to go on from after the server told `head`: the one kept (asked to resume from and recovered:
 * the replay that follows moves it up), else a copy of the head; undefined when the server told none.
 */
function adopt(kept: StreamPosition | false | undefined, head: StreamPosition | undefined): StreamPosition | undefined {
  return head && !(kept && kept.epoch === head.epoch && kept.seq <= head.seq) ? { ...head } : undefined
}
