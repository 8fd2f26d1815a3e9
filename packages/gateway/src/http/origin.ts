import { type IncomingMessage, type RequestListener, Server } from 'node:http'
import type { Duplex } from 'node:stream'

/** Why an upgrade is refused: the status line sent before the socket is closed. */
export type UpgradeRefusal = { status: 403; text: 'Forbidden' } | { status: 503; text: 'Service Unavailable' }

/**
 * An http server that refuses WebSocket upgrades before anyone else sees them. `@mesa/server` accepts upgrades on
 * a server it is given and has no hook to refuse one (such as `ws`'s `verifyClient`); the gateway needs to refuse
 * browsers from other origins, and new sockets while it drains. Filtering the `upgrade` event here keeps the
 * refused ones away from Mesa entirely.
 */
export class GatedServer extends Server {
  constructor(
    handler: RequestListener,
    private readonly admit: (req: IncomingMessage) => UpgradeRefusal | undefined,
  ) {
    super(handler)
  }

  override emit(event: string, ...args: unknown[]): boolean {
    if (event === 'upgrade') {
      const [req, socket] = args as [IncomingMessage, Duplex]
      const refusal = this.admit(req)
      if (refusal !== undefined) {
        socket.on('error', () => {})
        socket.end(`HTTP/1.1 ${refusal.status} ${refusal.text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
        return true
      }
    }
    return super.emit(event, ...args)
  }
}

/**
 * The origin check of WebSocket upgrades. Requests without `Origin` (servers, native apps) pass: the header is
 * what browsers send, and the check protects browser users from pages of other sites. `allowed` empty: only
 * the gateway's own origin (the page it serves); `['*']`: any.
 */
export function originAllowed(req: IncomingMessage, allowed: readonly string[]): boolean {
  const origin = req.headers.origin
  if (origin === undefined || allowed.includes('*') || allowed.includes(origin)) return true
  try {
    return new URL(origin).host === req.headers.host
  } catch {
    return false
  }
}
