import { AdapterError, type Frame, Opcode } from '@mesa/core'
import { frameToMessage, parseFrame, type PortalEvent, type ReplyEnvelope } from '@mesa/core/server'
import type { AdapterHandle } from '../adapter-handle.js'
import type { Connection } from '../connection.js'
import { toError } from '../errors.js'
import type { Deadline, DeadlineQueue } from './deadline-queue.js'
import { answer, errorFrame, refuse, replyFrame, requestIdOf } from './reply-frames.js'
import { type RequestHandlers, runHandler } from './request-handlers.js'

/** The options of `resolveConfig` client requests read. */
export interface IncomingRequestSettings {
  /** This server's id: the `serverId` of its portal request events, the `target` of the replies to them. */
  serverId: string
  /** `requests.maxPending`: requests one socket may have waiting for their answer. */
  maxPending: number
  /** `requests.timeout`: ms a handler or portal has to answer before the client is answered `timeout`. */
  timeout: number
  /** `portal.enabled`: requests no handler takes go to portals as `request` events. */
  portal: boolean
  /** `authentication.required`: unauthenticated sockets are answered `not-authenticated`. */
  authenticationRequired: boolean
}

/** A socket's requests waiting for their answer, by `x.id`. */
interface SocketRequests {
  readonly connection: Connection
  readonly waiting: Map<number, Deadline>
}

const GENERIC_FAILURE = 'the request failed'

/**
 * Requests (op 40) from clients, answered with op 41: by the handler of their type (`mesa.onRequest`), else by
 * a portal (a `request` event; its answer comes back as a `reply` envelope addressed to this server), else
 * `no-handler`. Each socket may have `maxPending` requests waiting; each waits at most `timeout`. The first
 * answer wins: a late handler result, a second portal reply, or anything for a socket that closed is dropped.
 */
export class IncomingRequests<C> {
  /** By socket id (what a reply envelope names); a socket is here only while it has requests waiting. */
  private readonly sockets = new Map<string, SocketRequests>()

  constructor(
    private readonly settings: IncomingRequestSettings,
    private readonly handlers: RequestHandlers<C>,
    private readonly deadlines: DeadlineQueue,
    private readonly adapter: AdapterHandle,
    private readonly report: (error: Error, connection?: Connection) => void,
  ) {}

  /** op 40 from a protocol 2 socket. */
  receive(connection: Connection<unknown, C>, frame: Frame): void {
    const id = requestIdOf(frame)
    const type = frame.t
    const waiting = this.sockets.get(connection.socketId)?.waiting
    // Without a valid id there is nothing to answer; a reused one would make two answers ambiguous.
    if (id === undefined || type === undefined || waiting?.has(id)) {
      let violation = `request ${id} is already waiting for its answer`
      if (id === undefined) violation = 'a request (op 40) needs x.id, a positive integer'
      else if (type === undefined) violation = 'a request (op 40) needs a type (t)'
      refuse(connection, violation, this.report)
      return
    }
    const handler = this.handlers.find(type)
    const refusal = this.refusal(connection, id, type, waiting?.size ?? 0, handler !== undefined)
    if (refusal !== undefined) {
      answer(connection, refusal)
      return
    }
    this.wait(connection, id)
    if (handler === undefined) {
      this.askPortal(connection, frame, id)
      return
    }
    const report = (error: Error): void => this.report(error, connection)
    void runHandler(handler, frameToMessage(frame), connection.client, id, report).then((reply) =>
      this.settle(connection.socketId, id, reply),
    )
  }

  /** A portal's answer to a request of a socket of this server (other servers' replies are ignored). */
  reply(envelope: ReplyEnvelope): void {
    if (envelope.target !== this.settings.serverId) return
    const { socketId, requestId } = envelope
    if (!this.sockets.get(socketId)?.waiting.has(requestId)) return
    this.settle(socketId, requestId, this.portalAnswer(envelope))
  }

  /** The socket closed: its requests are answered to nobody. */
  closed(connection: Connection): void {
    const socket = this.sockets.get(connection.socketId)
    if (socket === undefined) return
    for (const deadline of socket.waiting.values()) deadline.cancel()
    this.sockets.delete(connection.socketId)
  }

  /** The answer refusing a well-formed request at once, if it is to be refused. */
  private refusal(connection: Connection, id: number, type: string, waiting: number, handled: boolean): string | undefined {
    const { maxPending, portal, authenticationRequired } = this.settings
    if (authenticationRequired && !connection.authenticated) {
      return errorFrame(id, 'not-authenticated', 'authenticate before making requests')
    }
    if (waiting >= maxPending) return errorFrame(id, 'too-many-requests', `at most ${maxPending} requests may wait for an answer`)
    if (!handled && !portal) return errorFrame(id, 'no-handler', `no handler answers requests of type ${type}`)
    return undefined
  }

  private wait(connection: Connection, id: number): void {
    let socket = this.sockets.get(connection.socketId)
    if (socket === undefined) {
      socket = { connection, waiting: new Map() }
      this.sockets.set(connection.socketId, socket)
    }
    const { timeout } = this.settings
    const timedOut = (): void => {
      this.settle(connection.socketId, id, errorFrame(id, 'timeout', `no answer within ${timeout} ms`))
    }
    socket.waiting.set(id, this.deadlines.add(Date.now() + timeout, timedOut))
  }

  /** Writes the first answer to request `id`; later ones find nothing waiting and are dropped. */
  private settle(socketId: string, id: number, reply: string): void {
    const socket = this.sockets.get(socketId)
    const deadline = socket?.waiting.get(id)
    if (socket === undefined || deadline === undefined) return
    deadline.cancel()
    socket.waiting.delete(id)
    if (socket.waiting.size === 0) this.sockets.delete(socketId)
    answer(socket.connection, reply)
  }

  private askPortal(connection: Connection, frame: Frame, id: number): void {
    const event: PortalEvent = {
      kind: 'request',
      clientId: connection.socketId,
      serverId: this.settings.serverId,
      requestId: id,
      frame,
      time: Date.now(),
    }
    if (connection.userId !== undefined) event.userId = connection.userId
    Promise.resolve(this.adapter.get())
      .then((adapter) => adapter.portal.push(event))
      .catch((error: unknown) => {
        // A full portal queue or a failing adapter: nothing will answer; the client may try again later.
        this.report(toError(error), connection)
        this.settle(connection.socketId, id, errorFrame(id, 'unavailable', 'the request could not be passed on to a portal'))
      })
  }

  private portalAnswer(envelope: ReplyEnvelope): string {
    const re = envelope.requestId
    const { error, frame } = envelope
    if (error !== undefined) {
      if (typeof error.code === 'string' && typeof error.message === 'string') return errorFrame(re, error.code, error.message)
    } else if (typeof frame === 'string') {
      const parsed = parseFrame(frame)
      if (parsed.ok && parsed.frame.op === Opcode.Reply) return replyFrame(re, parsed.frame.d, parsed.frame.t)
    }
    this.report(new AdapterError(`a portal answered request ${re} of socket ${envelope.socketId} with neither a reply frame nor an error`))
    return errorFrame(re, 'rejected', GENERIC_FAILURE)
  }
}
