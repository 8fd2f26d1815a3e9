import type { Frame } from '../codec.js'
import { isSequence } from '../stream-position.js'

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Reads a frame from the server, or undefined when it is not one. Leaner than `parseFrame` on purpose: the
 * session ships in the browser client's 3 KB budget, and a client only needs to know whether to use a frame,
 * not which close code to answer with.
 */
export function readFrame(data: unknown): Frame | undefined {
  if (typeof data !== 'string') return undefined
  let frame: unknown
  try {
    frame = JSON.parse(data)
  } catch {
    return undefined
  }
  if (!isObject(frame)) return undefined
  const { op, d, t, s, o, x } = frame
  if (
    !Number.isInteger(op) ||
    !isObject(d) ||
    !(t == null || typeof t === 'string') ||
    !(s == null || isSequence(s)) ||
    !(x == null || isObject(x))
  ) {
    return undefined
  }
  // Absent and null are the same on the wire; keep only what is there.
  return {
    op: op as number,
    d,
    t: t ?? undefined,
    s: s ?? undefined,
    o: isObject(o) && o.sync === false ? { sync: false } : undefined,
    x: x ?? undefined,
  }
}
