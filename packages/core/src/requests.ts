import { MesaError } from './errors.js'
import { type AnyMessageData, Message } from './message.js'
import { Opcode } from './opcodes.js'

/**
 * Request types mapped to the data of a request and of its reply:
 * `{ GET_ROOM: { request: { id: string }; reply: { name: string } } }`. Constrained like `MessageMap`, so an
 * `interface` works as well as a type alias. Servers and clients take the same map.
 */
export type RequestMap<M = UntypedRequests> = { [K in keyof M]: { request: object; reply: object } }

/** Any request type, any data. */
export type UntypedRequests = { [type: string]: { request: AnyMessageData; reply: object } }

/**
 * What a request handler answers with: the reply's data (sent with the request's type), or a `Message` (its
 * type, or the request's when it has none, and its data). Nothing (`undefined`) answers `{}` where the reply's
 * type allows an empty object.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a handler that returns nothing answers `{}`.
export type RequestReply<R extends object> = R | Message<string, R> | ({} extends R ? void : never)

/** The data of a reply as the asker reads it: its declared type, or any fields when the map says only `object`. */
export type ReplyData<R extends object> = object extends R ? AnyMessageData : R

/**
 * Why a request (op 40) got no reply: the same codes whichever side asked (`client.request`, a server's
 * `client.request`).
 */
export type RequestErrorCode =
  /** No answer within the timeout (the asker's, or the answering server's wait for its handler or portal). */
  | 'timeout'
  /** The handler refused it (`rejection` holds the code it chose) or failed (`rejection` is `'rejected'`). */
  | 'rejected'
  /** Nobody answers requests of this type. */
  | 'no-handler'
  /** The connection closed before the answer came; requests are not retried (they may not be idempotent). */
  | 'connection-lost'
  /** The asker already has as many requests waiting as the other side allows. */
  | 'too-many-requests'
  /** The other side speaks Mesa 1.x, which has no requests. */
  | 'unsupported'
  /** The answering side could not take it now (its adapter or portal queue failed): it may be tried again later. */
  | 'unavailable'

/** A request failed; `code` says how (`rejection`: the code a handler refused it with). */
export class RequestError extends MesaError<RequestErrorCode> {
  override name = 'RequestError'
  /** With `rejected`: the code the answering handler chose (`RequestRejection`), or `'rejected'` when it failed. */
  declare readonly rejection: string | undefined

  constructor(code: RequestErrorCode, message?: string, rejection?: string) {
    super(code, message)
    this.rejection = rejection
  }
}

/**
 * Thrown (or rejected with) by a request handler to refuse a request: the asker gets this code and message as a
 * `RequestError` `rejected`. Marked for the asker (`expose`): any other error a handler throws reaches the asker
 * as a generic `rejected`, and its owner's `error` event gets it.
 */
export class RequestRejection extends MesaError {
  override name = 'RequestRejection'
  /** The asker may see this error's code and message (the http-errors convention). */
  readonly expose = true
}

/** `x.err` of an op 41 that answers a failure: a stable code and a message for people. */
export interface ReplyError {
  code: string
  message: string
}

/** Wire codes the protocol itself answers with; any other code in `x.err` is a handler's rejection. */
const PROTOCOL_CODES: readonly string[] = ['timeout', 'no-handler', 'too-many-requests', 'unavailable']

/** The `RequestError` an asker raises for an op 41 carrying `x.err`. */
export function requestErrorOf({ code, message }: Pick<ReplyError, 'code'> & { message?: string }): RequestError {
  const known = PROTOCOL_CODES.includes(code)
  return new RequestError(known ? (code as RequestErrorCode) : 'rejected', message, known ? undefined : code)
}

/**
 * What the asker may learn of an error a handler threw: its code and message when the error is marked for it
 * (`expose === true`, as `RequestRejection` is, with a non-empty string code), else undefined (the caller answers
 * a generic `rejected` and reports the error).
 */
export function exposedReplyError(error: unknown): ReplyError | undefined {
  // Destructuring finds nothing on a primitive; `?? {}` stands in for null and undefined.
  const { expose, code, message } = (error ?? {}) as { expose?: unknown; code?: unknown; message?: unknown }
  return expose === true && typeof code === 'string' && code ? { code, message: typeof message === 'string' ? message : '' } : undefined
}

/**
 * The op 41 (without `x`) a portal publishes in a `reply` envelope for a request of type `type` answered with
 * `result`: a `Message` (its type, else the request's, and its data) or an object (the data, with the request's
 * type), as a server answers with its own handlers' results; undefined for anything else (a number, an array,
 * null). Throws what `JSON.stringify` throws on the data (a cycle, a BigInt).
 */
export function encodeReplyFrame(result: unknown, type: string | undefined): string | undefined {
  if (result instanceof Message) return JSON.stringify({ op: Opcode.Reply, d: result.data, t: result.type ?? type })
  if (typeof result !== 'object' || result === null || Array.isArray(result)) return undefined
  return JSON.stringify({ op: Opcode.Reply, d: result, t: type })
}
