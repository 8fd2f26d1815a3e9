import { CloseCode } from './close-codes.js'
import { ProtocolError } from './errors.js'
import { Message } from './message.js'
import { isWireOpcode } from './opcodes.js'

/** A frame as it travels: Mesa 1.x's fields plus `x`, the v2 extensions that only v2 peers send or receive. */
export interface Frame {
  op: number
  d: Record<string, unknown>
  t?: string
  s?: number
  o?: { sync?: boolean }
  x?: Record<string, unknown>
}

export type ParseResult = { ok: true; frame: Frame } | { ok: false; error: ProtocolError }

/** Longest accepted `t`: type names are identifiers, and an unbounded one is a cheap way to waste memory. */
export const MAX_TYPE_LENGTH = 256

function invalid(message: string): ParseResult {
  return { ok: false, error: new ProtocolError('invalid-frame', CloseCode.InvalidFrame, message) }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Parses and validates one text frame. Never throws: every defect comes back as a `ProtocolError` that names
 * the close code to use, so one bad peer cannot take down the process that reads it.
 */
export function parseFrame(raw: string): ParseResult {
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return {
      ok: false,
      error: new ProtocolError('invalid-json', CloseCode.InvalidFrame, 'frame is not valid JSON'),
    }
  }
  return frameFromJson(value)
}

/**
 * Validates a frame already parsed from JSON (`parseFrame` is `JSON.parse` then this): a reader that inspects
 * the parsed value first, as the server does, validates it without parsing twice. Never throws.
 */
export function frameFromJson(value: unknown): ParseResult {
  if (!isPlainObject(value)) return invalid('frame must be a JSON object')
  const { op, d, t, s, o, x } = value
  if (typeof op !== 'number' || !Number.isInteger(op)) return invalid('frame field "op" must be an integer')
  if (!isWireOpcode(op)) {
    return {
      ok: false,
      error: new ProtocolError('unknown-opcode', CloseCode.UnknownOpcode, `unknown opcode ${op}`),
    }
  }
  if (!isPlainObject(d)) return invalid('frame field "d" must be an object')
  const frame: Frame = { op, d }
  if (t !== undefined && t !== null) {
    if (typeof t !== 'string') return invalid('frame field "t" must be a string')
    if (t.length > MAX_TYPE_LENGTH) return invalid(`frame field "t" is longer than ${MAX_TYPE_LENGTH} characters`)
    frame.t = t
  }
  if (s !== undefined && s !== null) {
    if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) {
      return invalid('frame field "s" must be a non-negative integer')
    }
    frame.s = s
  }
  if (o !== undefined && o !== null) {
    if (!isPlainObject(o)) return invalid('frame field "o" must be an object')
    if (o.sync !== undefined && typeof o.sync !== 'boolean') return invalid('frame field "o.sync" must be a boolean')
    frame.o = o.sync === undefined ? {} : { sync: o.sync }
  }
  if (x !== undefined && x !== null) {
    if (!isPlainObject(x)) return invalid('frame field "x" must be an object')
    frame.x = x
  }
  return { ok: true, frame }
}

/**
 * Encodes a frame that is not an application message (an acknowledgement, a heartbeat with `{ tries, max }`):
 * fields left undefined are left out, as JSON does.
 */
export function encodeFrame(frame: Frame): string {
  const { op, d, t, s, o, x } = frame
  return JSON.stringify({ op, d, t, s, o, x })
}

/** The `Message` a frame carries. */
export function frameToMessage(frame: Frame): Message<string, Record<string, unknown>> {
  const options = frame.o?.sync === false ? { sync: false } : {}
  return new Message(frame.op, frame.d, frame.t, options, frame.s)
}

/**
 * Copies untrusted data into an object without a prototype chain to poison: keys such as `__proto__`,
 * `constructor` or `prototype` become plain own properties and can change nothing else.
 */
export function toSafeRecord(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null)
  for (const key of Object.keys(value)) {
    Object.defineProperty(out, key, { value: value[key], enumerable: true, writable: true, configurable: true })
  }
  return out
}
