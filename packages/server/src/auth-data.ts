import { toSafeRecord } from '@mesa/core'

/** Keys through which merging untrusted data reaches a prototype (`__proto__`, `constructor.prototype`). */
const POISONED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

/** Deeper nesting is passed on as is: a JSON frame is at most `maxPayload` bytes, and auth data is shallow. */
const MAX_DEPTH = 32

function clean(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value
  if (Array.isArray(value)) return value.map((item) => clean(item, depth + 1))
  const record = toSafeRecord(value as Record<string, unknown>)
  for (const key of Object.keys(record)) {
    if (POISONED_KEYS.has(key)) delete record[key]
    else record[key] = clean(record[key], depth + 1)
  }
  return record
}

/**
 * The authentication data handed to the application's handler: objects without a prototype, from which the
 * keys `__proto__`, `constructor` and `prototype` are removed at every depth. Whatever the handler then does
 * with it (`Object.assign`, a naive deep merge), no prototype can be reached through it.
 */
export function sanitizeAuthData(data: Record<string, unknown>): Record<string, unknown> {
  return clean(data, 0) as Record<string, unknown>
}
