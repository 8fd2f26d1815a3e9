import { MesaError } from './errors.js'
import { Message } from './message.js'
import { Opcode } from './opcodes.js'

/** What a refused request's answer carries (op 41 `x.err`; the `error` of a `reply` envelope). */
export interface WireError {
  code: string
  message: string
}

/** Codes on the wire: a letter or digit, then letters, digits and `_ . : -`, 64 characters at most. */
const WIRE_CODE = /^[A-Za-z0-9][\w.:-]{0,63}$/
/** Longest message a refusal carries to the client; a longer one is cut. */
export const MAX_WIRE_ERROR_MESSAGE = 1024

/** What the client gets when a handler failed with an error not meant for it. */
export const GENERIC_REJECTION: Readonly<WireError> = { code: 'rejected', message: 'the request was rejected' }

/**
 * Thrown (or rejected with) by a request handler to refuse a request with a code and message of the application's
 * choosing: `throw new RequestRejection('not-found', 'no such order')`. It is marked for the client
 * (`expose = true`, the http-errors convention), so the client gets this code and message; any other error a
 * handler throws gives the client the generic `rejected`, and is reported where the handler runs.
 */
export class RequestRejection extends MesaError {
  override name = 'RequestRejection'
  readonly expose = true

  /**
   * @param code a stable code for programs: a letter or digit, then letters, digits and `_ . : -` (64 at most);
   *   another code is sent as `rejected`.
   * @param message for people; cut at 1024 characters on the wire.
   */
  constructor(code: string, message: string) {
    super(code, message)
  }
}

/**
 * The answer to a request whose handler failed with `error`: its own code and message when it is marked for the
 * client (`error.expose === true`, as `RequestRejection` is) and they fit the wire, else `GENERIC_REJECTION`.
 * `exposed` tells whether the error was the client's to see (if not, the host reports it).
 */
export function rejectionOf(error: unknown): WireError & { exposed: boolean } {
  const { expose, code, message } = (typeof error === 'object' && error !== null ? error : {}) as Record<string, unknown>
  if (expose !== true) return { ...GENERIC_REJECTION, exposed: false }
  return {
    code: typeof code === 'string' && WIRE_CODE.test(code) ? code : GENERIC_REJECTION.code,
    message:
      typeof message === 'string' && message.length > 0 ? message.slice(0, MAX_WIRE_ERROR_MESSAGE) : GENERIC_REJECTION.message,
    exposed: true,
  }
}

/**
 * The op 41 frame (without `x`) answering a request with a handler's result: a `Message` (its type and data) or an
 * object (the data); undefined for anything else (a number, an array, null), which is no reply.
 */
export function encodeReplyFrame(result: unknown): string | undefined {
  if (result instanceof Message) return JSON.stringify({ op: Opcode.Reply, d: result.data, t: result.type })
  if (typeof result !== 'object' || result === null || Array.isArray(result)) return undefined
  return JSON.stringify({ op: Opcode.Reply, d: result })
}
