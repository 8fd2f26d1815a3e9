export interface SweepOptions<S> {
  /** ms between heartbeats; undefined when heartbeats are off. */
  heartbeatInterval: number | undefined
  /** Unanswered heartbeats tolerated before `onTimeout(socket, 'heartbeat')`. */
  maxAttempts: number
  /** ms a socket has to authenticate; 0 disables the check. */
  authenticationTimeout: number
  /** ms a socket the server closed has to finish the closing handshake. */
  closeTimeout: number
  /** Sends a heartbeat: `tries` is set after missed acks (1.x op 1 `{ tries, max }`). */
  onBeat(socket: S, tries: number | undefined, max: number): void
  /** `close`: the closing handshake did not finish in time; the socket is to be cut. */
  onTimeout(socket: S, cause: 'heartbeat' | 'authentication' | 'close'): void
  now?: () => number
}

interface HeartbeatState {
  beaten: boolean
  acked: boolean
  attempts: number
}

/** Finest resolution of the authentication timeout, as a fraction of it (and at least this many ms). */
const AUTH_RESOLUTION_FRACTION = 10
/** Finest resolution of the close timeout, as a fraction of it: a cut may come up to a quarter late. */
const CLOSE_RESOLUTION_FRACTION = 4
const MIN_TICK = 10

/**
 * One timer for every socket of a server: each tick sends the heartbeat round when it is due (1.x semantics:
 * a socket that did not ack the previous beat gets `{ tries, max }`, and is timed out after `maxAttempts`),
 * times out sockets that did not authenticate in time, and cuts sockets that did not finish a closing handshake
 * the server started. The timer runs only while there are sockets.
 */
export class HeartbeatSweep<S> {
  private readonly heartbeats = new Map<S, HeartbeatState>()
  /** Sockets expected to authenticate, with their deadline. */
  private readonly deadlines = new Map<S, number>()
  /** Sockets the server is closing, with the deadline of their closing handshake. */
  private readonly closings = new Map<S, number>()
  private readonly tickMs: number
  private readonly now: () => number
  private timer: ReturnType<typeof setInterval> | undefined
  private nextRound = 0
  /**
   * Closing handshakes are watched by a second timer, finer than the heartbeat round, that runs only while some
   * socket is closing: still one timer for all of them.
   */
  private readonly closeTickMs: number
  private closeTimer: ReturnType<typeof setInterval> | undefined

  constructor(private readonly options: SweepOptions<S>) {
    this.now = options.now ?? Date.now
    const authTick =
      options.authenticationTimeout > 0
        ? Math.max(MIN_TICK, Math.floor(options.authenticationTimeout / AUTH_RESOLUTION_FRACTION))
        : Number.POSITIVE_INFINITY
    this.tickMs = Math.min(options.heartbeatInterval ?? Number.POSITIVE_INFINITY, authTick)
    this.closeTickMs = Math.max(MIN_TICK, Math.floor(options.closeTimeout / CLOSE_RESOLUTION_FRACTION))
  }

  /** Starts heartbeating a socket (no-op when heartbeats are off). */
  add(socket: S): void {
    if (this.options.heartbeatInterval === undefined) return
    this.heartbeats.set(socket, { beaten: false, acked: false, attempts: 0 })
    this.ensureRunning()
  }

  /** The socket answered a heartbeat. */
  ack(socket: S): void {
    const state = this.heartbeats.get(socket)
    if (state) state.acked = true
  }

  /** The socket must authenticate within the timeout counted from `since`. */
  expectAuthentication(socket: S, since: number): void {
    if (this.options.authenticationTimeout <= 0 || this.deadlines.has(socket)) return
    this.deadlines.set(socket, since + this.options.authenticationTimeout)
    this.ensureRunning()
  }

  authenticated(socket: S): void {
    this.deadlines.delete(socket)
    this.stopIfIdle()
  }

  /**
   * The server started closing the socket: it is no longer beaten or expected to authenticate, and is handed to
   * `onTimeout(socket, 'close')` if it is still there after `closeTimeout`.
   */
  closing(socket: S): void {
    this.heartbeats.delete(socket)
    this.deadlines.delete(socket)
    this.closings.set(socket, this.now() + this.options.closeTimeout)
    if (this.closeTimer === undefined) {
      this.closeTimer = setInterval(() => this.cutLateClosings(), this.closeTickMs)
      this.closeTimer.unref?.()
    }
    this.stopIfIdle()
  }

  remove(socket: S): void {
    this.heartbeats.delete(socket)
    this.deadlines.delete(socket)
    this.closings.delete(socket)
    this.stopIfIdle()
    this.stopClosingTimerIfIdle()
  }

  /** Stops the timer and forgets every socket. */
  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
    clearInterval(this.closeTimer)
    this.closeTimer = undefined
    this.heartbeats.clear()
    this.deadlines.clear()
    this.closings.clear()
  }

  private ensureRunning(): void {
    if (this.timer !== undefined || !Number.isFinite(this.tickMs)) return
    this.nextRound = this.now()
    this.timer = setInterval(() => this.tick(), this.tickMs)
    this.timer.unref?.()
  }

  private stopIfIdle(): void {
    if (this.heartbeats.size === 0 && this.deadlines.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer)
      this.timer = undefined
    }
  }

  private stopClosingTimerIfIdle(): void {
    if (this.closings.size === 0 && this.closeTimer !== undefined) {
      clearInterval(this.closeTimer)
      this.closeTimer = undefined
    }
  }

  private cutLateClosings(): void {
    const now = this.now()
    for (const [socket, deadline] of this.closings) {
      if (now < deadline) continue
      this.closings.delete(socket)
      this.options.onTimeout(socket, 'close')
    }
    this.stopClosingTimerIfIdle()
  }

  private tick(): void {
    const now = this.now()
    for (const [socket, deadline] of this.deadlines) {
      if (now < deadline) continue
      this.deadlines.delete(socket)
      this.options.onTimeout(socket, 'authentication')
    }
    const interval = this.options.heartbeatInterval
    if (interval !== undefined && now >= this.nextRound) {
      this.nextRound = now + interval - this.tickMs / 2
      this.round()
    }
    this.stopIfIdle()
  }

  private round(): void {
    const { maxAttempts, onBeat, onTimeout } = this.options
    for (const [socket, state] of this.heartbeats) {
      if (!state.beaten || state.acked) {
        state.beaten = true
        state.acked = false
        state.attempts = 0
        onBeat(socket, undefined, maxAttempts)
        continue
      }
      state.attempts++
      if (state.attempts > maxAttempts) {
        this.heartbeats.delete(socket)
        this.deadlines.delete(socket)
        onTimeout(socket, 'heartbeat')
      } else {
        onBeat(socket, state.attempts, maxAttempts)
      }
    }
  }
}
