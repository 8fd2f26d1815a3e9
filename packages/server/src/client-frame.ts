import { CloseCode, Opcode, ProtocolError, type ProtocolErrorCode } from '@mesa/core'
import { frameFromJson, type ParseResult } from '@mesa/core/server'
import type { RawData } from 'ws'
import { preflight, sanitize, type ValueBounds } from './sanitize.js'

/** Opcodes a client may send; the others (1, 10, 22) are the server's, 5 never travels. */
const CLIENT_OPCODES: ReadonlySet<number> = new Set([Opcode.Dispatch, Opcode.Authenticate, Opcode.HeartbeatAck])
/** Opcodes only a protocol 2 client may send: a 1.x socket sending them breaks its protocol. */
const V2_CLIENT_OPCODES: ReadonlySet<number> = new Set([Opcode.Subscribe, Opcode.Unsubscribe, Opcode.Request, Opcode.Reply])

function text(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8')
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  return Buffer.from(data).toString('utf8')
}

function refused(code: ProtocolErrorCode, closeCode: CloseCode, message: string): ParseResult {
  return { ok: false, error: new ProtocolError(code, closeCode, message) }
}

/**
 * Reads one frame from a client: a text frame that is JSON within `bounds` (depth, keys), sanitised
 * (`sanitize.ts`: op 2 as authentication data, everything else as message data), that core's `frameFromJson`
 * accepts, with an opcode clients may send (`v2`: the socket speaks protocol 2, whose opcodes it may send too).
 * Anything else comes back as the `ProtocolError` naming the close
 * code for the socket. Never throws.
 *
 * The frame's values are safe to merge at any depth: the walk removes prototype keys wherever they are, and is
 * skipped only when the raw text shows that no such key, and no excess of depth or keys, can be in it.
 */
export function readClientFrame(data: RawData, isBinary: boolean, bounds: ValueBounds, v2 = false): ParseResult {
  if (isBinary) return refused('binary-frame', CloseCode.UnsupportedData, 'binary frames are not accepted')
  let raw: string
  try {
    raw = text(data)
  } catch {
    // Only a frame beyond the longest string V8 makes (hundreds of MiB, far above any sane maxPayload).
    return refused('payload-too-large', CloseCode.MessageTooBig, 'frame too large to read')
  }
  const check = preflight(raw, bounds)
  if (check instanceof ProtocolError) return { ok: false, error: check }
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return refused('invalid-json', CloseCode.InvalidFrame, 'frame is not valid JSON')
  }
  const authentication = typeof value === 'object' && value !== null && (value as { op?: unknown }).op === Opcode.Authenticate
  // Authentication data always gets the walk: its objects lose their prototype.
  if (authentication || check === 'walk') {
    const error = sanitize(value, bounds, authentication ? 'authentication' : 'message')
    if (error) return { ok: false, error }
  }
  const parsed = frameFromJson(value)
  if (!parsed.ok || CLIENT_OPCODES.has(parsed.frame.op)) return parsed
  const op = parsed.frame.op
  if (V2_CLIENT_OPCODES.has(op)) {
    return v2 ? parsed : refused('unknown-opcode', CloseCode.UnknownOpcode, `opcode ${op} is protocol 2's; this socket speaks 1.x`)
  }
  return refused('unknown-opcode', CloseCode.UnknownOpcode, `opcode ${op} is sent by servers only`)
}
