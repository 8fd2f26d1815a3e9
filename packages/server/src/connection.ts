import type { IncomingMessage } from 'node:http'
import { CloseCode } from '@mesa/core'
import type WebSocket from 'ws'
import { ServerError } from './errors.js'
import { type FrameWriter, Written } from './frame-writer.js'
import type { GapReader } from './gap-reader.js'
import { type DeliveryTarget, SocketDelivery } from './redelivery.js'
import type { RateBucket } from './rate-limit.js'
import type { SendBuffers } from './send-buffers.js'
import type { MesaStats } from './stats.js'

/**
 * `done` of an authenticate handler, as in Mesa 1.x: `done(error)` or `done(null, { id, user })`. Mesa 2 adds
 * `expiresAt` (ms since the epoch): the authentication then expires (see `authentication.refreshBefore`).
 */
export type AuthenticateDone<User> = (error: unknown, result?: { id: string | number; user: User; expiresAt?: number }) => void

/** What an authenticate handler learns besides the op 2 data: the socket's upgrade request. */
export interface AuthenticationContext {
  /**
   * The credential the client gave with its WebSocket upgrade, from the header or query parameter named in
   * `authentication.upgradeCredentials` (a browser can only use the query: `new WebSocket(url + '?token=…')`);
   * undefined when none is configured or the request had none.
   */
  credentials?: string
  /** The HTTP upgrade request (headers, URL, remote address). */
  request: IncomingMessage
}

/**
 * Decides whether a client's authentication is valid (Mesa 1.x `client.authenticate`): `data` is what the client
 * sent in op 2, `context` what its upgrade request carried. It may be `async`: a rejected promise fails the
 * authentication (generic reason to the client) and is reported through `error`.
 */
export type AuthenticateHandler<User> = (
  data: Record<string, unknown>,
  done: AuthenticateDone<User>,
  context: AuthenticationContext,
) => void | Promise<void>

/** Close reasons are limited to 123 bytes by RFC 6455. */
const MAX_REASON_BYTES = 123

export function closeReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_REASON_BYTES) return reason
  let out = reason.slice(0, MAX_REASON_BYTES)
  while (Buffer.byteLength(out) > MAX_REASON_BYTES - 3) out = out.slice(0, -1)
  return `${out}...`
}

/** What every socket of a server shares: one object, so each connection holds one reference instead of several. */
export interface SocketContext {
  readonly writer: FrameWriter
  /** The server-wide count of bytes waiting to be sent. */
  readonly sendBuffers: SendBuffers
  readonly readGap: GapReader
  readonly stats: MesaStats
  /** Reports a failure of this socket (`error` on the client and the server). */
  report(error: Error, connection: Connection): void
  /** The server started closing this socket: it is cut if the handshake does not finish in time. */
  closing(connection: Connection): void
}

/**
 * The server's state of one socket. `client` is its public face (`ServerClient`), set once by the server right
 * after construction; `C` is its type, which the modules that never touch it leave `unknown`.
 */
export class Connection<User = unknown, C = unknown> implements DeliveryTarget {
  readonly delivery: SocketDelivery
  declare client: C
  userId: string | undefined
  user: User | undefined
  authenticated = false
  /** An op 2 is being handled (the handler or the resume has not finished). */
  authenticating = false
  /** Settles (never rejects) once the op 2 being handled is done, accepted or not; set by `AuthenticationFlow`. */
  authenticationSettled: Promise<void> | undefined = undefined
  authenticator: AuthenticateHandler<User> | undefined
  /** The server decided to close the socket: what it sends from now on is ignored. */
  closing = false
  /** The socket closed (its `close` event ran). */
  closed = false
  /** Protocol 2: the client instance id its op 2 carried (`x.cid`), which keys its acknowledged sends. */
  clientInstanceId: string | undefined = undefined
  /** What the socket may still send (`limits.rate`); set by `InboundGate` when rate limits are on. */
  rate: RateBucket | undefined = undefined

  constructor(
    readonly socketId: string,
    readonly ws: WebSocket,
    readonly protocol: 1 | 2,
    readonly request: IncomingMessage,
    readonly connectedAt: number,
    private readonly context: SocketContext,
  ) {
    this.delivery = new SocketDelivery(this, context.readGap, context.writer.maxBufferedAmount)
  }

  write(frame: string): void {
    const written = this.context.writer.write(this.ws, frame)
    if (written === Written.Yes) return
    if (written === Written.Buffering) {
      this.context.sendBuffers.grew(this as Connection)
      return
    }
    if (this.ws.readyState !== this.ws.OPEN) return
    // Nothing more is written to it. Its client gets a close code and reason once it reads what is buffered
    // (then reconnects and resumes); one that never reads is cut after `limits.closeTimeout`, freeing its buffer.
    this.context.stats.slowConsumerCuts++
    this.report(new ServerError('slow-consumer', 'a client did not read what was sent to it; its socket was closed'))
    this.close(CloseCode.SlowConsumer, `too slow: more than ${this.context.writer.maxBufferedAmount} bytes waited to be sent`)
  }

  report(error: Error): void {
    this.context.report(error, this as Connection)
  }

  fellBehind(reason: string): void {
    this.context.stats.slowConsumerCuts++
    this.report(new ServerError('slow-consumer', 'a client fell too far behind while its missed messages were replayed'))
    this.close(CloseCode.SlowConsumer, reason)
  }

  closeToResume(reason: string): void {
    // 1001: the client reconnects (to any server) and resumes: it learns from its resume whether it recovered.
    this.close(CloseCode.GoingAway, reason)
  }

  /**
   * Starts the closing handshake. Input stops at once: a client that ignores the close frame feeds nothing more
   * to the application, and is cut after `limits.closeTimeout`. The `close` event does the bookkeeping.
   * A handshake the client started (its close frame came, ws answered) is cut after `limits.closeTimeout` too: a
   * client whose network went away right after its close frame never ends the TCP connection, and ws would keep
   * the socket (and its user's presence) for its own 30 s.
   */
  close(code: number, reason: string): void {
    if (this.closing || this.closed) return
    this.closing = true
    if (this.ws.readyState === this.ws.CLOSED) return
    if (this.ws.readyState !== this.ws.CLOSING) this.ws.close(code, closeReason(reason))
    this.context.closing(this as Connection)
  }
}
