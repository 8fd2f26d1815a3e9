import { createHmac, timingSafeEqual } from 'node:crypto'

/** Name of the admin page's session cookie. */
export const SESSION_COOKIE = 'mesa_admin'
/** How long an admin session lasts, seconds. */
export const SESSION_SECONDS = 12 * 3600

const sign = (apiKey: string, expires: number) => createHmac('sha256', apiKey).update(`mesa-admin:${expires}`).digest('base64url')

/**
 * A session value: its expiry and an HMAC of it keyed with the API key. Nothing is stored on the gateway, the key
 * itself never travels again after the login, and changing the key ends every session.
 */
export function sessionValue(apiKey: string, now = Date.now()): string {
  const expires = Math.floor(now / 1000) + SESSION_SECONDS
  return `${expires}.${sign(apiKey, expires)}`
}

/** Whether the request's cookies hold a session of this API key that has not expired. */
export function validSession(cookieHeader: string | undefined, apiKey: string, now = Date.now()): boolean {
  const value = cookieHeader
    ?.split(';')
    .map((part) => part.trim())
    .find((part) => part.startsWith(`${SESSION_COOKIE}=`))
    ?.slice(SESSION_COOKIE.length + 1)
  const match = value === undefined ? null : /^(\d{1,12})\.([\w-]{43})$/.exec(value)
  if (match === null) return false
  const expires = Number(match[1])
  if (expires * 1000 <= now) return false
  return timingSafeEqual(Buffer.from(match[2]!), Buffer.from(sign(apiKey, expires)))
}
