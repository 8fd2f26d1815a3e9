import { type AnyMessageData, type Frame, Message, Opcode, RequestError } from '@mesa/core'
import { requestErrorOf } from '@mesa/core/server'
import type { Connection } from '../connection.js'
import { ServerError } from '../errors.js'
import { isMessage } from '../message-check.js'
import type { Deadline, DeadlineQueue } from './deadline-queue.js'

/** `client.request(message, options)`. */
export interface RequestOptions {
  /** ms to wait for the client's answer before rejecting with `RequestError` `timeout`. Default 10000. */
  timeout?: number
}

/** Default of `RequestOptions.timeout`: the same as the clients'. */
export const DEFAULT_REQUEST_TIMEOUT = 10_000

/** Longest timeout a timer takes. */
const MAX_TIMEOUT = 2 ** 31 - 1

/** Longest rejection code and message taken from a client; longer ones are cut. */
const MAX_CODE_LENGTH = 64
const MAX_MESSAGE_LENGTH = 1024

interface Waiting {
  readonly type: string
  readonly deadline: Deadline
  resolve(reply: Message<string, AnyMessageData>): void
  reject(error: Error): void
}

/** A socket's requests to its client: the next `x.id`, and those waiting for their answer. */
interface SocketRequests {
  next: number
  readonly waiting: Map<number, Waiting>
}

function rejected<T>(error: Error): Promise<T> {
  return Promise.reject(error)
}

/** The failure in an op 41's `x.err` from a client, its strings bounded: the client is not trusted. */
function clientError(err: unknown): RequestError {
  const { code, message } = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: unknown }
  if (typeof code !== 'string' || code.length === 0) return new RequestError('rejected', 'the client rejected the request', 'rejected')
  const text = typeof message === 'string' ? message.slice(0, MAX_MESSAGE_LENGTH) : ''
  return requestErrorOf({ code: code.slice(0, MAX_CODE_LENGTH), message: text })
}

/**
 * Requests from the server to one client (`client.request`): op 40 with `x.id` counting up from 1 per socket,
 * answered by the client's op 41 with `x.re`. Each socket may have `maxPending` waiting; each waits at most its
 * timeout (one `DeadlineQueue` timer for all); a socket that closes rejects its requests with `connection-lost`
 * (requests are never sent again: they may not be idempotent).
 */
export class OutgoingRequests {
  private readonly sockets = new Map<Connection, SocketRequests>()

  constructor(
    /** `requests.maxPending`: requests to one socket that may wait for their answer. */
    private readonly maxPending: number,
    private readonly deadlines: DeadlineQueue,
  ) {}

  request<R extends object>(connection: Connection, message: Message<string, object>, options: RequestOptions = {}): Promise<Message<string, R>> {
    if (!isMessage(message) || typeof message.type !== 'string' || message.type.length === 0) {
      return rejected(new ServerError('invalid-message', 'request() takes a Message with a type'))
    }
    const timeout = options.timeout ?? DEFAULT_REQUEST_TIMEOUT
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > MAX_TIMEOUT) {
      return rejected(new TypeError(`request(): timeout must be an integer from 1 to ${MAX_TIMEOUT} ms, got ${String(timeout)}`))
    }
    if (connection.protocol !== 2) {
      return rejected(new RequestError('unsupported', 'the client speaks Mesa protocol 1, which has no requests'))
    }
    if (connection.closing || connection.closed) return rejected(new RequestError('connection-lost', 'the connection is closed'))
    let socket = this.sockets.get(connection)
    if (socket === undefined) {
      socket = { next: 1, waiting: new Map() }
      this.sockets.set(connection, socket)
    }
    if (socket.waiting.size >= this.maxPending) {
      return rejected(new RequestError('too-many-requests', `at most ${this.maxPending} requests to a client may wait for an answer`))
    }
    const id = socket.next
    let frame: string
    try {
      frame = JSON.stringify({ op: Opcode.Request, d: message.data, t: message.type, x: { id } })
    } catch (error) {
      return rejected(new ServerError('invalid-message', `request(): the data cannot be encoded: ${(error as Error).message}`, { cause: error }))
    }
    socket.next++
    const waiting = socket.waiting
    const type = message.type
    const promise = new Promise<Message<string, R>>((resolve, reject) => {
      const timedOut = (): void => {
        waiting.delete(id)
        reject(new RequestError('timeout', `no answer to ${type} within ${timeout} ms`))
      }
      waiting.set(id, {
        type,
        deadline: this.deadlines.add(Date.now() + timeout, timedOut),
        resolve: resolve as (reply: Message<string, AnyMessageData>) => void,
        reject,
      })
    })
    connection.write(frame)
    return promise
  }

  /** op 41 from a protocol 2 socket: settles the request `x.re` names; an unknown or missing `x.re` is ignored. */
  answer(connection: Connection, frame: Frame): void {
    const waiting = this.sockets.get(connection)?.waiting
    const re = frame.x?.re
    const request = typeof re === 'number' ? waiting?.get(re) : undefined
    if (request === undefined) return
    waiting!.delete(re as number)
    request.deadline.cancel()
    const err = frame.x?.err
    if (err !== undefined) request.reject(clientError(err))
    else request.resolve(new Message(Opcode.Dispatch, frame.d, frame.t ?? request.type))
  }

  /** The socket closed: every request waiting for its answer fails with `connection-lost`. */
  closed(connection: Connection): void {
    const socket = this.sockets.get(connection)
    if (socket === undefined) return
    this.sockets.delete(connection)
    for (const request of socket.waiting.values()) {
      request.deadline.cancel()
      request.reject(new RequestError('connection-lost', 'the connection closed before the client answered'))
    }
  }
}
