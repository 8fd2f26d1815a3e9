import { type IncomingMessage, STATUS_CODES } from 'node:http'
import type { VerifyClientCallbackAsync } from 'ws'
import type { ConnectionVerdict, MesaOptions } from './options.js'
import { ServerError, toError } from './errors.js'
import { isThenable } from './guarded-emitter.js'

/** The options of `resolveConfig` admission reads. */
export interface AdmissionSettings {
  allowedOrigins: readonly string[] | undefined
  verifyConnection: MesaOptions['verifyConnection']
  /** 0: no cap. */
  maxConnectionsPerIp: number
  /** ms `verifyConnection` has to answer (`limits.handshakeTimeout`). */
  handshakeTimeout: number
}

/** How an upgrade request is answered: accepted, or refused with an HTTP status and a body. */
type Answer = { accept: true } | { accept: false; status: number; reason?: string }

const ACCEPT: Answer = { accept: true }
/** What the race between an async `verifyConnection` and `limits.handshakeTimeout` yields when time ran out. */
const LATE = Symbol('late')

function refuse(status: number, reason?: string): Answer {
  return { accept: false, status, reason }
}

/** What `verifyConnection` may answer; anything else is the application's bug (500). */
function toAnswer(verdict: unknown): Answer | undefined {
  if (verdict === true) return ACCEPT
  if (verdict === false) return refuse(403)
  if (typeof verdict !== 'object' || verdict === null) return undefined
  const { status, reason } = verdict as { status?: unknown; reason?: unknown }
  const isStatus = typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599
  if (!isStatus || STATUS_CODES[status] === undefined) return undefined
  if (reason !== undefined && typeof reason !== 'string') return undefined
  return refuse(status, reason)
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return typeof value
  }
}

/**
 * Decides at the HTTP upgrade, before any WebSocket exists, whether a connection is let in (ws's `verifyClient`,
 * which runs after ws checked the request and its `path`): a browser `Origin` not in `allowedOrigins` gets 403,
 * an IP address that already has `maxConnectionsPerIp` sockets 429, then `verifyConnection` (the application's)
 * answers. The cheap checks come first, so a flood of refused upgrades never reaches application code.
 *
 * Each IP address's count covers its sockets from admission until their TCP socket closes, whatever happens in
 * between (a refusal, a failed upgrade, the WebSocket's life): one `close` listener per counted socket.
 */
export class Admission {
  private readonly origins: ReadonlySet<string> | undefined
  /** Sockets per remote address, only with `maxConnectionsPerIp`. */
  private readonly perIp = new Map<string, number>()

  constructor(
    private readonly settings: AdmissionSettings,
    /** Reports a failing `verifyConnection` (it threw, rejected, answered nonsense, or did not answer in time). */
    private readonly report: (error: Error) => void,
  ) {
    this.origins = settings.allowedOrigins && new Set(settings.allowedOrigins.map((origin) => origin.toLowerCase()))
  }

  /** ws's `verifyClient` (the callback form, so `verifyConnection` may be async); undefined when nothing is checked. */
  get verifyClient(): VerifyClientCallbackAsync | undefined {
    const { allowedOrigins, verifyConnection, maxConnectionsPerIp } = this.settings
    if (allowedOrigins === undefined && verifyConnection === undefined && maxConnectionsPerIp === 0) return undefined
    // Two declared parameters: ws passes the callback only to a function of length 2.
    return (info, callback) => {
      this.admit(info.req, info.origin).then(
        (answer) => (answer.accept ? callback(true) : callback(false, answer.status, answer.reason)),
        // `admit` settles every failure of application code itself; this is for the unforeseen.
        (error: unknown) => {
          this.report(toError(error))
          callback(false, 500)
        },
      )
    }
  }

  private async admit(request: IncomingMessage, origin: string | undefined): Promise<Answer> {
    if (this.origins !== undefined && origin !== undefined && !this.origins.has(origin.toLowerCase())) {
      return refuse(403, 'origin not allowed')
    }
    if (this.settings.maxConnectionsPerIp > 0 && !this.count(request)) return refuse(429, 'too many connections from this address')
    return this.settings.verifyConnection === undefined ? ACCEPT : this.verify(this.settings.verifyConnection, request)
  }

  /** Counts the socket against its address; false when the address has no room left. */
  private count(request: IncomingMessage): boolean {
    const socket = request.socket
    const address = socket.remoteAddress
    // No address: the socket is already gone, and the upgrade will not complete.
    if (address === undefined) return true
    const open = this.perIp.get(address) ?? 0
    if (open >= this.settings.maxConnectionsPerIp) return false
    this.perIp.set(address, open + 1)
    socket.once('close', () => {
      const left = (this.perIp.get(address) ?? 1) - 1
      if (left > 0) this.perIp.set(address, left)
      else this.perIp.delete(address)
    })
    return true
  }

  private async verify(verifyConnection: NonNullable<MesaOptions['verifyConnection']>, request: IncomingMessage): Promise<Answer> {
    const failed = (message: string, cause?: unknown): Answer => {
      this.report(new ServerError('handler-failed', `verifyConnection ${message}`, { cause }))
      return refuse(500)
    }
    let verdict: ConnectionVerdict | Promise<ConnectionVerdict>
    try {
      verdict = verifyConnection(request)
    } catch (error) {
      return failed(`threw: ${toError(error).message}`, error)
    }
    if (isThenable(verdict)) {
      const { handshakeTimeout } = this.settings
      let timer: ReturnType<typeof setTimeout> | undefined
      // A hook that never answers would hold the socket for ever: it gets the handshake's time, then 503.
      const late = new Promise<typeof LATE>((resolve) => {
        timer = setTimeout(() => resolve(LATE), handshakeTimeout)
      })
      try {
        const settled = await Promise.race([verdict, late])
        if (settled === LATE) {
          this.report(new ServerError('handler-failed', `verifyConnection did not answer within ${handshakeTimeout} ms`))
          return refuse(503)
        }
        verdict = settled
      } catch (error) {
        return failed(`rejected: ${toError(error).message}`, error)
      } finally {
        clearTimeout(timer)
      }
    }
    return toAnswer(verdict) ?? failed(`must answer true, false or { status: 400-599, reason? }, got ${describe(verdict)}`)
  }
}
