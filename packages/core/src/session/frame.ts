import type { Frame } from '../codec.js'
import { isSequence } from '../stream-position.js'

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Reads a frame from the server, or undefined when it is not one (binary, not JSON, fields of the wrong type).
 * Leaner than `parseFrame` on purpose: the session ships in the browser client's 3 KB budget, and a client only
 * needs to know whether to use a frame, not which close code to answer with. `t`, `s` and `x` may be null
 * (absent).
 */
export function readFrame(data: unknown): Frame | undefined {
  let frame: Frame | undefined
  try {
    frame = typeof data === 'string' ? JSON.parse(data) : undefined
  } catch {
    return undefined
  }
  return isObject(frame) &&
    Number.isInteger(frame.op) &&
    isObject(frame.d) &&
    (frame.t == null || typeof frame.t === 'string') &&
    (frame.s == null || isSequence(frame.s)) &&
    (frame.x == null || isObject(frame.x))
    ? frame
    : undefined
}
