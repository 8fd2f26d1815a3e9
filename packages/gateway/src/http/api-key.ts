import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

const digest = (value: string) => createHash('sha256').update(value).digest()

/**
 * Compares API keys in constant time: both are hashed first, so `timingSafeEqual` compares equal lengths and
 * the time taken tells nothing about the key, not even its length.
 */
export function keyMatches(candidate: string | undefined, key: string): boolean {
  if (candidate === undefined) return false
  return timingSafeEqual(digest(candidate), digest(key))
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')
  return match?.[1]
}
