import type { AnyMessageData, Message, RequestReply } from '@mesa/core'
import { exposedReplyError } from '@mesa/core/server'
import { ServerError, toError } from '../errors.js'
import { isMessage } from '../message-check.js'
import { errorFrame, replyFrame } from './reply-frames.js'

/** The request map, its default and what a handler answers with: core's, shared with the clients. */
export type { RequestMap, RequestReply, UntypedRequests } from '@mesa/core'

/**
 * Answers one request (op 40) from a client; application code. It may be `async`; throwing (or rejecting with)
 * a `RequestRejection` refuses the request with its code and message; any other failure reaches the client as
 * a generic `rejected` and the server's `error` event as a `ServerError` `handler-failed`.
 */
export type RequestHandler<T extends string, D extends object, R extends object, Client> = (
  message: Message<T, D>,
  client: Client,
) => RequestReply<R> | Promise<RequestReply<R>>

/** A handler as stored: any type (`mesa.onRequest`'s overloads check the types). */
export type AnyHandler<C> = (message: Message<string, AnyMessageData>, client: C) => unknown

/** What clients see when a handler failed without saying why to them. */
const GENERIC_FAILURE = 'the request failed'

/** `mesa.onRequest`'s handlers: one per type, and one for the types that have none. */
export class RequestHandlers<C> {
  private readonly byType = new Map<string, AnyHandler<C>>()
  private any: AnyHandler<C> | undefined

  /** Sets the handler of `type` (undefined: of every type without its own), replacing the one it had. */
  set(type: string | undefined, handler: AnyHandler<C>): void {
    if (type === undefined) this.any = handler
    else this.byType.set(type, handler)
  }

  /** The handler answering requests of `type`, if any. */
  find(type: string): AnyHandler<C> | undefined {
    return this.byType.get(type) ?? this.any
  }
}

/**
 * Runs a handler for request `id` and resolves with the op 41 answering it: its reply, the rejection it chose
 * (`expose`), or a generic `rejected` after `report` got the failure (it threw, rejected, or answered with
 * something that is neither a `Message` nor an object). Never rejects.
 */
export async function runHandler<C>(
  handler: AnyHandler<C>,
  message: Message<string, AnyMessageData>,
  client: C,
  id: number,
  report: (error: Error) => void,
): Promise<string> {
  const failed = (what: string, cause: unknown): string => {
    report(new ServerError('handler-failed', `the request handler for ${message.type} ${what}: ${toError(cause).message}`, { cause }))
    return errorFrame(id, 'rejected', GENERIC_FAILURE)
  }
  let value: unknown
  try {
    value = await handler(message, client)
  } catch (error) {
    const exposed = exposedReplyError(error)
    return exposed ? errorFrame(id, exposed.code, exposed.message) : failed('failed', error)
  }
  try {
    if (isMessage(value)) return replyFrame(id, value.data, value.type ?? message.type)
    if (value === undefined) return replyFrame(id, {}, message.type)
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return replyFrame(id, value, message.type)
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`
    throw new TypeError(`a reply is a Message or an object, got ${kind}`)
  } catch (error) {
    // A wrong kind of value, or data JSON cannot encode (a cycle, a BigInt).
    return failed('answered with no valid reply', error)
  }
}
