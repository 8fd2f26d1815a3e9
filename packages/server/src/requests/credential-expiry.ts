import { CloseCode, Opcode } from '@mesa/core'
import type { Connection } from '../connection.js'
import type { Deadline, DeadlineQueue } from './deadline-queue.js'

interface Expiry {
  /** The op 35 asking a protocol 2 client to refresh (undefined once sent, and for 1.x sockets). */
  warning: Deadline | undefined
  /** The close with 4008. */
  end: Deadline
}

/**
 * Authentications that expire (`done(null, { id, user, expiresAt })`): a protocol 2 socket gets op 35
 * (`x.exp`) `refreshBefore` ms ahead of the expiry, or halfway there when less time is left (so that refreshing
 * with credentials that expire as soon cannot loop), and every socket still on that authentication at its
 * expiry is closed with 4008 `AuthenticationExpired` (1.x clients cannot refresh: they reconnect and
 * authenticate anew). All deadlines share the server's one `DeadlineQueue` timer.
 */
export class CredentialExpiry {
  private readonly expiries = new Map<Connection, Expiry>()

  constructor(
    /** `authentication.refreshBefore`. */
    private readonly refreshBefore: number,
    private readonly deadlines: DeadlineQueue,
  ) {}

  /** The socket's (new) authentication expires at `expiresAt` (ms since the epoch); undefined: it does not. */
  set(connection: Connection, expiresAt: number | undefined): void {
    this.closed(connection)
    if (expiresAt === undefined) return
    const now = Date.now()
    const end = this.deadlines.add(expiresAt, () => {
      this.expiries.delete(connection)
      connection.close(CloseCode.AuthenticationExpired, 'authentication expired')
    })
    const expiry: Expiry = { warning: undefined, end }
    if (connection.protocol === 2) {
      const warnAt = Math.max(expiresAt - this.refreshBefore, now + (expiresAt - now) / 2)
      expiry.warning = this.deadlines.add(warnAt, () => {
        expiry.warning = undefined
        if (!connection.closing && !connection.closed) {
          connection.write(JSON.stringify({ op: Opcode.Reauthenticate, d: {}, x: { exp: expiresAt } }))
        }
      })
    }
    this.expiries.set(connection, expiry)
  }

  /** The socket closed (or authenticated without an expiry): nothing is due for it. */
  closed(connection: Connection): void {
    const expiry = this.expiries.get(connection)
    if (expiry === undefined) return
    expiry.warning?.cancel()
    expiry.end.cancel()
    this.expiries.delete(connection)
  }
}
