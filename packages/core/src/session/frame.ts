import type { Frame } from '../codec.js'
import { isSequence } from '../stream-position.js'

export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Whether a parsed text frame from the server is a Mesa frame (fields of the right types; `t`, `s` and `x` may be
 * null, for absent). Leaner than `parseFrame` on purpose: the session ships in the browser client's size budget,
 * and a client only needs to know whether to use a frame, not which close code to answer with.
 */
export function isFrame(value: unknown): value is Frame {
  return (
    isObject(value) &&
    Number.isInteger(value.op) &&
    isObject(value.d) &&
    (value.t == null || typeof value.t === 'string') &&
    (value.s == null || isSequence(value.s)) &&
    (value.x == null || isObject(value.x))
  )
}
