import { CloseCode, type Frame, Opcode, ProtocolError } from '@mesa/core'
import type { ReplyError } from '@mesa/core/server'
import type { Connection } from '../connection.js'

/**
 * Codes of the failures the server answers with (op 41 `x.err.code`), besides the codes of a handler's own
 * rejections (`RequestRejection`). `docs/architecture.md` says what a client does with each.
 */
export type ServerReplyCode =
  /** A handler or listener failed and did not say why to the client. */
  | 'rejected'
  /** No handler takes requests of this type, and no portal is asked. */
  | 'no-handler'
  /** The socket already has `requests.maxPending` requests, or `acks.maxInFlight` acknowledged sends, in flight. */
  | 'too-many-requests'
  /** No answer from the handler or portal within `requests.timeout`. */
  | 'timeout'
  /** The adapter (deduplication, portal queue) failed: try again later. */
  | 'unavailable'
  /** Another attempt at the same acknowledged send is being handled (here or on another server): try again later. */
  | 'busy'
  /** `authentication.required`, and the socket has not authenticated; or a refresh of an unauthenticated socket. */
  | 'not-authenticated'
  /** An acknowledged send from a socket whose op 2 carried no `x.cid`. */
  | 'invalid'

/** `x.id` of a frame that expects an answer: a positive integer. */
export function isRequestId(id: unknown): id is number {
  return typeof id === 'number' && Number.isSafeInteger(id) && id > 0
}

/** The positive integer `frame.x.id`, or undefined. */
export function requestIdOf(frame: Frame): number | undefined {
  const id = frame.x?.id
  return isRequestId(id) ? id : undefined
}

/** op 41 answering `re` with success: `d` (and `t`, and more of `x`). Throws what `JSON.stringify` throws on `d`. */
export function replyFrame(re: number, d: object = {}, t?: string, x?: Record<string, unknown>): string {
  return JSON.stringify({ op: Opcode.Reply, d, t, x: { ...x, re } })
}

/** op 41 answering `re` with a failure. */
export function errorFrame(re: number, code: ServerReplyCode | string, message: string): string {
  const err: ReplyError = { code, message }
  return JSON.stringify({ op: Opcode.Reply, d: {}, x: { re, err } })
}

/** Writes an answer unless the server is closing the socket (or it closed): then nobody reads it. */
export function answer(connection: Connection, frame: string): void {
  if (!connection.closing && !connection.closed) connection.write(frame)
}

/**
 * Closes a socket whose frame broke the protocol (4000) and reports why: a frame expecting an answer without a
 * valid `x.id` cannot be answered.
 */
export function refuse<C extends Connection>(connection: C, message: string, report: (error: Error, connection: C) => void): void {
  const error = new ProtocolError('invalid-frame', CloseCode.InvalidFrame, message)
  report(error, connection)
  connection.close(error.closeCode, error.message)
}
