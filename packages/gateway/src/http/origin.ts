import type { IncomingMessage } from 'node:http'

/**
 * The origin check of WebSocket upgrades. Requests without `Origin` (servers, native apps) pass: the header is
 * what browsers send, and the check protects browser users from pages of other sites. `allowed` empty: only
 * the gateway's own origin (the page it serves, compared with the `Host` header); `['*']`: any. The gateway's
 * own origin always passes, which the server's static `allowedOrigins` list cannot express: the gateway checks it
 * in the server's `verifyConnection`.
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
