import { type BackoffSettings, backoffDelay, backoffSettings } from '../backoff.js'
import { checkNumber } from '../check-number.js'
import type { BackoffOptions } from '../backoff.js'
import { isTerminalCloseCode } from '../close-codes.js'
import type { Frame } from '../codec.js'
import { TypedEmitter } from '../emitter.js'
import { AuthenticationError, ConfigError, ConnectionClosedError, MesaError, ProtocolError, QueueFullError } from '../errors.js'
import { type AnyMessageData, Message, type MessageMap, type MessageOf } from '../message.js'
import { type HelloRule, SUBPROTOCOL_V2 } from '../protocol-version.js'
import type { AuthenticationResult, ResumePositions, ResyncReason } from '../stream-position.js'
import { now } from './clock.js'
import { isFrame } from './frame.js'
import { helloDuration } from './hello.js'
import type { SessionState } from './session-state.js'
import { readPositions, STREAM_KINDS } from './stream-positions.js'
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
  SERVER_UNRESPONSIVE,
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
  /** Messages kept while they cannot be sent; `send()` throws `QueueFullError` beyond. Default 1000. */
  maxQueueSize?: number
  /**
   * Total length of the messages kept while they cannot be sent, counted as their serialized frames' lengths
   * (UTF-16 code units: bytes for ASCII text); `send()` throws `QueueFullError` beyond. Default 1048576 (1 MiB).
   */
  maxQueueBytes?: number
  /** Sent as `CLIENT_VERSION` to servers with the `enforce_equal_versions` rule. Default `'2'`. */
  version?: string
  /** Positions to resume from, e.g. `client.positions` persisted by an earlier run. Default none. */
  positions?: ResumePositions
}

export interface AuthenticateOptions {
  /**
   * Mesa 1.x redelivery: `true` replays what was stored while the user was away, `false` drops it. Protocol 2
   * clients also resume from their stream positions only when this is true. Default true.
   */
  shouldSync?: boolean
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

/** Message types when none are declared: any type name, data an object of unknown fields. */
export type UntypedMessages = { [type: string]: AnyMessageData }

export interface SessionEvents<In extends MessageMap<In> = UntypedMessages, User = unknown> {
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

/**
 * The client side of a Mesa connection, shared by the Node and browser clients. Transport-agnostic: it opens
 * sockets through `transport`, a factory of the browser's `WebSocket` or of `ws`'s.
 *
 * Written for the browser client's size budget (packages/client-browser/README.md, "Size"): state lives in
 * private fields, which minify to two characters, rather than in helper objects whose method names cannot be
 * minified, and steps with a single caller (reading a frame, dropping replays, adopting heads) are written in place.
 */
export class ClientSession<
  In extends MessageMap<In> = UntypedMessages,
  Out extends MessageMap<Out> = In,
  User = unknown,
> extends TypedEmitter<SessionEvents<In, User>> {
  declare readonly url: string
  /** Rules of the last hello (1.x: `enforce_equal_versions`, `store_messages`, `sends_user_object`). */
  rules: readonly string[] = []
  #ws: WebSocketLike | undefined
  /** The hello of the current socket (op 10's data); undefined until it arrives. */
  #hello: Frame['d'] | undefined
  /** The current socket negotiated protocol 2 (subprotocol accepted and announced in the hello). */
  #v2 = false
  #state: SessionState = 'closed'
  /** Positions sent in the pending authentication's `x.resume`. */
  #resumed: ResumePositions | undefined
  /** Callers waiting in `connect()`. */
  readonly #waiters: Waiters = []
  #initial = true
  #initialSession = true
  /**
   * What to authenticate with, op 2's data (`{ ...data, shouldSync }` as in 1.x); kept so that reconnects
   * re-authenticate on their own.
   */
  #credentials: { shouldSync: boolean } | undefined
  /** The credentials were accepted once: after a reconnect, outgoing messages wait for re-authentication. */
  #accepted = false
  /** The caller waiting on `authenticate()`. */
  readonly #authWaiters: Waiters = []
  /** Bounds the wait for the answer to the credentials on the wire. */
  #authTimer: Timer
  #reconnectTimer: Timer
  /**
   * Reconnect delays; `base` becomes the server's reconnect interval once announced. Settings and a count rather
   * than a `Backoff`: the session also decides when a connection was stable enough to start counting again.
   */
  readonly #backoff: BackoffSettings
  /** Reconnect attempts since the last stable connection. */
  #attempt = 0
  /** When the current connection opened (`now()`), undefined while there is none. */
  #openedAt: number | undefined
  readonly #transport: WebSocketTransport
  readonly #options: SessionOptions
  /** Messages waiting for a connection (or re-authentication), bounded by `maxQueueSize`. */
  readonly #queue: string[] = []
  /** Sum of the queued frames' lengths, bounded by `maxQueueBytes`. */
  #queueBytes = 0
  /** The last delivered position in each redelivery stream. */
  readonly #streams: ResumePositions
  // Dead-server detection. Liveness is a timestamp compared when the one timer fires, never a count of timer
  // ticks, so timers that a background tab throttles or a sleeping laptop suspends cannot add up to a false
  // alarm. Fields of the session rather than a monitor object of its own: fewer bytes in the browser bundle.
  /** When the server last said something (`now()`). */
  #lastFrame = 0
  /** Longest silence tolerated (heartbeat interval plus grace); 0 while not watching. */
  #silenceLimit = 0
  #silenceTimer: Timer
  /** The silence check already gave the event loop one extra round before deciding. */
  #deferred = false

  constructor(url: string, transport: WebSocketTransport, options: SessionOptions = {}) {
    super()
    if (typeof url !== 'string') throw new ConfigError('url must be a string')
    this.url = url
    for (const key of ['heartbeatGrace', 'authenticationTimeout', 'maxQueueSize', 'maxQueueBytes'] as const) checkNumber(key, options[key])
    this.#transport = transport
    this.#options = { ...options }
    this.#streams = readPositions(options.positions)
    this.#backoff = backoffSettings(options.backoff)
    if (options.autoConnect ?? true) this.#open(false)
  }

  get state(): SessionState {
    return this.#state
  }

  /** The last delivered position in each redelivery stream: persist it to resume across restarts. */
  get positions(): ResumePositions {
    return readPositions(this.#streams)
  }

  /** Messages waiting to be sent. */
  get queued(): number {
    return this.#queue.length
  }

  /** Protocol of the current connection: 2 when the server negotiated `mesa.v2`, else 1 (Mesa 1.x). */
  get protocol(): number {
    return this.#v2 ? 2 : 1
  }

  /**
   * Opens the connection; resolves once it is open. Already open: resolves at once. Waiting for a reconnect:
   * tries now. Rejects when this attempt closes before opening (reconnects go on as configured).
   */
  async connect(): Promise<void> {
    if (this.#ws?.readyState === OPEN) return
    // Async: a transport that cannot open the URL rejects the promise.
    if (!this.#ws) this.#open(false)
    return wait(this.#waiters)
  }

  /**
   * Sends a message now, or queues it while there is no connection (or, after a reconnect, until the session
   * is authenticated again). Queued as its frame, serialized now: the bound counts it, and a message the
   * application changes afterwards goes out as it was sent.
   * @throws QueueFullError when `maxQueueSize` messages or `maxQueueBytes` of frames are already queued.
   */
  send(message: MessageOf<Out>): void {
    const frame = message.serialize()
    // Once accepted, credentials are presented again on every connection, and messages wait for the answer.
    if (this.#ws?.readyState === OPEN && !(this.#accepted && this.#state !== 'authenticated')) {
      this.#write(frame)
      return
    }
    const { maxQueueSize = 1000, maxQueueBytes = 2 ** 20 } = this.#options
    // Bounded by count and by size, so that a long outage cannot exhaust memory.
    if (this.#queue.length >= maxQueueSize) throw new QueueFullError(maxQueueSize)
    if (this.#queueBytes + frame.length > maxQueueBytes) throw new QueueFullError(maxQueueBytes, 'bytes')
    this.#queue.push(frame)
    this.#queueBytes += frame.length
  }

  /**
   * Authenticates with `data` (merged with `{ shouldSync }` as in 1.x) and resolves with the user object the
   * server returns (op 22's data). The credentials are kept: every reconnect re-authenticates with them.
   * Called while reconnecting, it goes out once the next connection is open.
   * Rejects with `AuthenticationError`: `rejected` (close 1008), `timeout`, `closed` (a connection closed
   * first, or the session is closed), `superseded` (a later call replaced this one).
   */
  async authenticate(data: Record<string, unknown> = {}, options: AuthenticateOptions = {}): Promise<User> {
    if (this.#state === 'closed') throw new AuthenticationError('closed', 'not connected')
    this.#settleAuth(new AuthenticationError('superseded', 'superseded by a newer authenticate()'))
    this.#credentials = { ...data, shouldSync: options.shouldSync ?? true }
    this.#accepted = false
    const promise = wait<User>(this.#authWaiters)
    if (this.#hello) this.#sendCredentials()
    return promise
  }

  /** Closes the connection for good: no reconnect, credentials forgotten. Queued messages stay queued. */
  disconnect(code: number = NORMAL_CLOSURE, reason = ''): void {
    clearTimeout(this.#reconnectTimer)
    this.#attempt = 0
    this.#initialSession = true
    this.#forget(new AuthenticationError('closed', 'disconnected'))
    this.#drop(code, reason, false)
  }

  /** Skips the wait before the next reconnect attempt (e.g. on the browser's `online` event). */
  reconnectNow(): void {
    if (this.#state === 'reconnecting') this.#open(true)
  }

  #open(automatic: boolean): void {
    clearTimeout(this.#reconnectTimer)
    let ws: WebSocketLike
    try {
      ws = this.#transport(this.url, [SUBPROTOCOL_V2])
    } catch (error) {
      // A transport that cannot open this URL will not later either: nothing more is tried.
      this.#setState('closed')
      throw new ConfigError(`cannot open ${this.url}: ${error}`)
    }
    this.#ws = ws
    this.#setState('connecting')
    // Handlers stay attached after the session lets go of a socket (an `error` event without a listener
    // would crash a `ws` socket) but ignore it from then on.
    ws.onopen = () => ws === this.#ws && this.#opened(automatic)
    ws.onmessage = (event) => ws === this.#ws && this.#received(event.data)
    ws.onclose = (event) => ws === this.#ws && this.#closed(event.code, event.reason, true)
    ws.onerror = (event) => {
      const error = (event as { error?: unknown } | undefined)?.error
      if (ws === this.#ws) this.emit('error', error instanceof Error ? error : new MesaError('socket-error', 'WebSocket error'))
    }
  }

  #opened(automatic: boolean): void {
    this.#openedAt = now()
    // Before any event: a message a listener sends must not overtake the ones queued earlier.
    if (!this.#accepted) this.#flush()
    this.#setState('open')
    const info: ConnectionInfo = {
      isInitialConnection: this.#initial,
      isInitialSessionConnection: this.#initialSession,
      isAutomaticReconnection: automatic,
    }
    this.#initial = this.#initialSession = false
    settle(this.#waiters)
    this.emit('connected', info)
    this.emit('connection', info)
  }

  #received(data: unknown): void {
    this.#alive()
    let frame: unknown
    try {
      frame = JSON.parse(data as string)
    } catch {}
    // Not text (a binary frame: JSON.parse reads a ws Buffer's bytes or a browser's "[object Blob]", either way
    // rejected here), not JSON, or not a Mesa frame.
    if (typeof data !== 'string' || !isFrame(frame)) {
      this.emit('error', new ProtocolError('invalid-frame', INVALID_FRAME, 'invalid frame from the server'))
      return
    }
    const { op, d, t, s, o, x } = frame
    if (op === HEARTBEAT) this.#write(HEARTBEAT_ACK_FRAME)
    else if (op === HELLO) this.#greeted(d, x)
    else if (op === AUTHENTICATE_ACK) this.#acknowledged(d as User, x)
    else if (op === DISPATCH) {
      // Exactly-once delivery: a v2 message at or below its stream's position is a replay or a duplicate, and
      // a new one advances the position (1.x numbers each redelivery batch from 1, so its `s` cannot be used).
      // While a resume is pending the replay that follows brings the message in order: taking it now would move
      // the position past the messages missed before it. A stream without a position takes everything.
      const position = this.#v2 && s != null ? this.#streams[x?.st === 'g' ? 'global' : 'user'] : undefined
      if (position) {
        if ((this.#credentials && this.#state !== 'authenticated') || s! <= position.seq) return
        position.seq = s!
      }
      this.emit('message', new Message(op, d, t ?? undefined, o ?? undefined, s ?? undefined) as MessageOf<In>)
    }
  }

  #greeted(d: Frame['d'], x: Frame['x']): void {
    // 1.x rules such as `enforce_equal_versions`; 1.x omits the field when there are none.
    const rules = Array.isArray(d.rules) ? d.rules.filter((rule): rule is string => typeof rule === 'string') : []
    const heartbeatInterval = helloDuration(d, 'c_heartbeat_interval')
    const reconnectInterval = helloDuration(d, 'c_reconnect_interval')
    this.#hello = d
    // ws 7 servers (Mesa 1.x) echo any offered subprotocol, so only the hello tells a v2 server apart.
    this.#v2 = this.#ws?.protocol === SUBPROTOCOL_V2 && (x?.protocol as number) >= 2
    this.rules = rules
    // The server's reconnect interval becomes the base delay; the attempts made so far still count.
    if (reconnectInterval) this.#backoff.base = reconnectInterval
    if (heartbeatInterval) {
      this.#silenceLimit = heartbeatInterval + (this.#options.heartbeatGrace ?? Math.max(1000, heartbeatInterval / 2))
      this.#alive()
    }
    if (rules.includes('enforce_equal_versions' satisfies HelloRule)) {
      this.#write(new Message(DISPATCH, { v: this.#options.version ?? VERSION }, 'CLIENT_VERSION').serialize())
    }
    if (this.#credentials) this.#sendCredentials()
  }

  #sendCredentials(): void {
    const d = this.#credentials!
    const resume = readPositions(this.#streams)
    this.#resumed = this.#v2 && d.shouldSync && (resume.user || resume.global) ? resume : undefined
    // JSON leaves `x` out when there is nothing to resume.
    this.#write(JSON.stringify({ op: AUTHENTICATE, d, x: this.#resumed && { resume } }))
    this.#setState('authenticating')
    const timeout = this.#options.authenticationTimeout ?? helloDuration(this.#hello!, 'c_authentication_timeout') ?? 10_000
    clearTimeout(this.#authTimer)
    this.#authTimer = setTimeout(() => {
      this.#settleAuth(new AuthenticationError('timeout', `no answer within ${timeout} ms`))
      this.#drop(AUTHENTICATION_TIMEOUT, 'authentication timeout')
    }, timeout)
  }

  #acknowledged(user: User, ext: Frame['x']): void {
    // Heads count only as the answer to this socket's authentication, never later (a user update).
    const x = this.#state === 'authenticating' && this.#v2 ? ext : undefined
    const streams = readPositions(x?.streams)
    const recovered = x?.recovered !== false
    const reason = recovered ? undefined : (x?.reason as ResyncReason | undefined)
    // A stream the session asked to resume keeps its position when the server recovered it: the replay that
    // follows moves it up to the head. Every other stream, or every stream after a failed recovery, starts at
    // the head (a copy: the event hands `streams` out): what came before is not coming.
    for (const kind of STREAM_KINDS) {
      const head = streams[kind]
      const kept = recovered && this.#resumed?.[kind]
      if (head && !(kept && kept.epoch === head.epoch && kept.seq <= head.seq)) this.#streams[kind] = { ...head }
    }
    this.#resumed = undefined
    // What waited for this answer goes out now (after a first authentication there is nothing).
    this.#flush()
    this.#setState('authenticated')
    this.#accepted = true
    this.#settleAuth(undefined, user)
    this.emit('authenticated', { user, recovered, reason, streams })
    if (!recovered) this.emit('resync', reason, readPositions(this.#streams))
  }

  /** The server just said something. Cheap: no timer is touched while one is pending. */
  #alive(): void {
    this.#lastFrame = now()
    this.#deferred = false
    this.#silenceTimer ??= this.#silenceLimit ? setTimeout(() => this.#checkSilence(), this.#silenceLimit) : undefined
  }

  #checkSilence(): void {
    const silent = now() - this.#lastFrame
    this.#silenceTimer = undefined
    if (silent < this.#silenceLimit) this.#silenceTimer = setTimeout(() => this.#checkSilence(), this.#silenceLimit - silent)
    else if (!this.#deferred) {
      // When this process or tab was frozen (or just busy), frames that arrived meanwhile may still wait in the
      // event queue behind this timer. Let them in once before deciding; a live server costs one extra round.
      this.#deferred = true
      this.#silenceTimer = setTimeout(() => this.#checkSilence())
    } else this.#drop(SERVER_UNRESPONSIVE, 'server unresponsive')
  }

  #flush(): void {
    for (const frame of this.#queue.splice(0)) this.#write(frame)
    this.#queueBytes = 0
  }

  #write(data: string): void {
    this.#ws?.send(data)
  }

  /**
   * Lets go of the current socket at once (the session is closed when there is none). Unless this is the end of
   * the session, it does not wait for the close handshake either: the server may be gone.
   */
  #drop(code: number, reason: string, mayReconnect = true): void {
    const ws = this.#ws
    if (!ws) {
      this.#setState('closed')
      return
    }
    this.#closed(code, reason, mayReconnect)
    try {
      ws.close(code, reason)
    } catch {
      // Not a code a client may send (`disconnect()`); close anyway.
      ws.close()
    }
    if (mayReconnect) ws.terminate?.()
  }

  #closed(code: number, reason: string, mayReconnect: boolean): void {
    const closed = `closed (${code})`
    // A connection that stayed up long enough resets the backoff; one that never opened counts as an attempt
    // (`now() - undefined` is NaN, never >= resetAfter).
    if (now() - this.#openedAt! >= this.#backoff.resetAfter) this.#attempt = 0
    clearTimeout(this.#silenceTimer)
    this.#ws = this.#hello = this.#openedAt = this.#silenceTimer = undefined
    this.#v2 = false
    this.#silenceLimit = 0
    if (code === AUTHENTICATION_FAILED) this.#forget(new AuthenticationError('rejected', reason || 'rejected'))
    else this.#settleAuth(new AuthenticationError('closed', closed))
    settle(this.#waiters, new ConnectionClosedError(closed))
    const retry = mayReconnect && this.#options.reconnect !== false && !isTerminalCloseCode(code)
    let delay: number | undefined
    if (retry) {
      delay = backoffDelay(this.#backoff, this.#attempt++)
      this.#reconnectTimer = setTimeout(() => {
        try {
          this.#open(true)
        } catch (error) {
          this.emit('error', error as Error)
        }
      }, delay)
    }
    this.#setState(retry ? 'reconnecting' : 'closed')
    this.emit('disconnected', code, reason, { willAttemptReconnect: retry, delay })
  }

  /** Settles the caller waiting on `authenticate()`, if any, and stops waiting for an answer on the wire. */
  #settleAuth(error?: AuthenticationError, user?: User): void {
    clearTimeout(this.#authTimer)
    settle(this.#authWaiters, error, user)
  }

  /** Forgets the credentials (rejected by the server, or an explicit disconnect). */
  #forget(error: AuthenticationError): void {
    this.#settleAuth(error)
    this.#credentials = undefined
    this.#accepted = false
  }

  #setState(state: SessionState): void {
    const previous = this.#state
    if (state === previous) return
    this.#state = state
    this.emit('stateChange', state, previous)
  }
}
