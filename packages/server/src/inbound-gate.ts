import { CloseCode, ProtocolError } from '@mesa/core'
import type { RateLimitOptions } from './options.js'
import type { Connection } from './connection.js'
import { ServerError } from './errors.js'
import { setPayloadLimit } from './payload-limit.js'
import { RateBucket, rateLimitReason } from './rate-limit.js'
import type { MesaStats } from './stats.js'

/** The options of `resolveConfig` the gate reads. */
export interface InboundSettings {
  maxPayload: number
  /** `limits.maxPayloadBeforeAuthentication` (at most `maxPayload`). */
  maxPayloadBeforeAuthentication: number
  /** `limits.rate`; undefined: no rate limit. */
  rate: Required<RateLimitOptions> | undefined
}

/**
 * What a socket may send before its frames are parsed: its payload limit (`limits.maxPayloadBeforeAuthentication`
 * until it authenticates, `maxPayload` after) and its rate limit (`rate-limit.ts`). The one writer of both: the
 * payload limit lives in ws's receiver (`payload-limit.ts`), the rate buckets on each `Connection`.
 */
export class InboundGate {
  private readonly now = (): number => performance.now()

  constructor(
    private readonly settings: InboundSettings,
    private readonly stats: MesaStats,
    /** Reports what the gate refused (`error` on the client and the server). */
    private readonly report: (error: Error, connection: Connection) => void,
  ) {}

  /** A socket opened: from now on ws refuses its frames above the limit before authentication. */
  opened(connection: Connection): void {
    const { maxPayload, maxPayloadBeforeAuthentication, rate } = this.settings
    if (maxPayloadBeforeAuthentication < maxPayload) setPayloadLimit(connection.ws, maxPayloadBeforeAuthentication)
    if (rate !== undefined) connection.rate = new RateBucket(rate, this.now())
  }

  /** The socket authenticated: it may send frames up to `maxPayload`. Call before op 22 is written. */
  authenticated(connection: Connection): void {
    if (this.settings.maxPayloadBeforeAuthentication < this.settings.maxPayload) {
      setPayloadLimit(connection.ws, this.settings.maxPayload)
    }
  }

  /**
   * Whether a frame of `bytes` from this socket is to be read. Otherwise the gate has dealt with it: a frame above
   * the payload limit (only seen here when ws's receiver could not be told the limit) closes the socket with 1009;
   * one over the rate limit closes it with 4006 or is dropped, as `limits.rate.action` says.
   */
  admit(connection: Connection, bytes: number): boolean {
    const limit = connection.authenticated ? this.settings.maxPayload : this.settings.maxPayloadBeforeAuthentication
    if (bytes > limit) {
      this.refuse(connection, this.tooLarge(connection))
      return false
    }
    const bucket = connection.rate
    if (bucket === undefined) return true
    const now = this.now()
    if (bucket.take(bytes, now)) return true
    const rate = this.settings.rate!
    this.stats.rateLimited++
    if (rate.action === 'close') {
      const reason = rateLimitReason(rate)
      this.report(new ServerError('rate-limited', `${reason}: socket closed`), connection)
      connection.close(CloseCode.RateLimited, reason)
    } else if (bucket.shouldReport(now)) {
      this.report(new ServerError('rate-limited', `${rateLimitReason(rate)}: frames dropped`), connection)
    }
    return false
  }

  /** The error for a frame above this socket's payload limit. */
  tooLarge(connection: Connection): ProtocolError {
    const [bytes, option] = connection.authenticated
      ? [this.settings.maxPayload, 'maxPayload']
      : [this.settings.maxPayloadBeforeAuthentication, 'limits.maxPayloadBeforeAuthentication']
    return new ProtocolError('payload-too-large', CloseCode.MessageTooBig, `frame larger than ${bytes} bytes (${option})`)
  }

  private refuse(connection: Connection, error: ProtocolError): void {
    this.report(error, connection)
    connection.close(error.closeCode, error.message)
  }
}
