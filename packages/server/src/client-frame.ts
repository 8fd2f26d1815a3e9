import { CloseCode, Opcode, type ParseResult, parseFrame, ProtocolError } from '@mesa/core'
import type { RawData } from 'ws'

/** Opcodes a client may send; the others (1, 10, 22) are the server's, 5 never travels. */
const CLIENT_OPCODES: ReadonlySet<number> = new Set([Opcode.Dispatch, Opcode.Authenticate, Opcode.HeartbeatAck])

function text(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8')
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  return Buffer.from(data).toString('utf8')
}

/**
 * Reads one frame from a client: a text frame that `parseFrame` accepts, with an opcode clients may send.
 * Anything else comes back as the `ProtocolError` naming the close code for the socket.
 */
export function readClientFrame(data: RawData, isBinary: boolean): ParseResult {
  if (isBinary) {
    return {
      ok: false,
      error: new ProtocolError('binary-frame', CloseCode.UnsupportedData, 'binary frames are not accepted'),
    }
  }
  const parsed = parseFrame(text(data))
  if (!parsed.ok || CLIENT_OPCODES.has(parsed.frame.op)) return parsed
  const { op } = parsed.frame
  return {
    ok: false,
    error: new ProtocolError('unknown-opcode', CloseCode.UnknownOpcode, `opcode ${op} is sent by servers only`),
  }
}
