import { CloseCode, type Frame, type MessageMap, type MessageOf } from '@mesa/core'
import { type DeliveryClaim, exposedReplyError, frameToMessage } from '@mesa/core/server'
import type { AdapterHandle } from '../adapter-handle.js'
import { ServerError, toError } from '../errors.js'
import type { ServerConnection, ServerEvents } from '../server-events.js'
import type { MesaStats } from '../stats.js'
import { answer, errorFrame, isRequestId, refuse, replyFrame } from './reply-frames.js'

/** The options of `resolveConfig` acknowledged sends read (`acks.*`). */
export interface AckSettings {
  /** ms a handled message is remembered: a retransmission within it is acknowledged without being handled again. */
  window: number
  /** ms a server may take to handle a message before a retransmission elsewhere may handle it too. */
  lease: number
  /** Frames (acknowledged sends, and messages behind them) one socket may have waiting to be handled. */
  maxInFlight: number
  /** Bytes of those frames. */
  maxInFlightBytes: number
  /** `authentication.required`: unauthenticated sockets are answered `not-authenticated`. */
  authenticationRequired: boolean
}

interface Queued {
  readonly frame: Frame
  readonly bytes: number
  /** Set for an acknowledged send: its `x.id`, its deduplication key and where its claim stands. */
  readonly ack?: { id: number; key: string; claim: Promise<DeliveryClaim | Error> }
}

/** One socket's frames in flight, handled in the order they came. */
interface Inbox {
  readonly queue: Queued[]
  bytes: number
}

/** What a client may be told when a listener failed without saying why to it. */
const GENERIC_FAILURE = 'a handler of the message failed'

/**
 * Acknowledged sends: op 0 with `x.id` from a protocol 2 socket whose op 2 carried `x.cid`. Each is claimed in the
 * adapter's `Deduplicator` under (client instance, id, user) before anything runs: `new` runs the message path
 * (portal queue, then listeners and middleware, awaited) and marks it `complete` for `window`, or `abandon`s it
 * when something failed; `done` (handled before, here or on another server) is acknowledged without running
 * anything; `busy` (being handled elsewhere) asks the client to retry. Then op 41 answers `x.id`.
 *
 * Claims are asked for as frames arrive (pipelined), but messages are handled one after another in the order
 * the socket sent them: once an acknowledged send is in flight, the socket's plain messages queue behind it,
 * within the same bounds, so the application sees a socket's messages in order whichever way they were sent.
 * A message whose socket closes meanwhile is still handled (its client will retransmit it; the claim tells).
 */
export class AcknowledgedSends<In extends MessageMap<In>, Out extends MessageMap<Out>, User> {
  private readonly inboxes = new Map<ServerConnection<In, Out, User>, Inbox>()

  constructor(
    private readonly settings: AckSettings,
    private readonly adapter: AdapterHandle,
    private readonly events: ServerEvents<In, Out, User>,
    private readonly stats: MesaStats,
  ) {}

  /** Whether this op 0 is for `receive`: an acknowledged send, or any message while some are in flight. */
  takes(connection: ServerConnection<In, Out, User>, frame: Frame): boolean {
    return connection.protocol === 2 && (frame.x?.id !== undefined || this.inboxes.has(connection))
  }

  /** An op 0 that `takes` returned true for; `bytes`: its size on the wire. */
  receive(connection: ServerConnection<In, Out, User>, frame: Frame, bytes: number): void {
    const inbox = this.inboxes.get(connection)
    const id = frame.x?.id
    const full =
      inbox !== undefined &&
      (inbox.queue.length >= this.settings.maxInFlight || inbox.bytes + bytes > this.settings.maxInFlightBytes)
    if (id === undefined) {
      if (full) this.overflow(connection)
      else this.enqueue(connection, inbox, { frame, bytes })
      return
    }
    if (!isRequestId(id)) {
      refuse(connection, 'an acknowledged send needs x.id, a positive integer', (error) => this.events.error(error, connection))
      return
    }
    const refusal = this.refusal(connection, id, full)
    if (refusal !== undefined) {
      answer(connection, refusal)
      return
    }
    // The user keeps one client from answering for another's messages; the client instance id is random per client.
    const key = `${connection.clientInstanceId}:${id}:${connection.userId ?? ''}`
    const claim = Promise.resolve(this.adapter.get())
      .then((adapter) => adapter.dedupe.begin(key, this.settings.lease))
      .catch((error: unknown) => toError(error))
    this.enqueue(connection, inbox, { frame, bytes, ack: { id, key, claim } })
  }

  /** The answer refusing an acknowledged send at once, if it is to be refused. */
  private refusal(connection: ServerConnection<In, Out, User>, id: number, full: boolean): string | undefined {
    if (connection.clientInstanceId === undefined) return errorFrame(id, 'invalid', 'acknowledged sends need x.cid in op 2')
    if (this.settings.authenticationRequired && !connection.authenticated) {
      return errorFrame(id, 'not-authenticated', 'authenticate before sending')
    }
    if (full) return errorFrame(id, 'too-many-requests', `at most ${this.settings.maxInFlight} acknowledged sends may be in flight`)
    return undefined
  }

  private enqueue(connection: ServerConnection<In, Out, User>, inbox: Inbox | undefined, queued: Queued): void {
    if (inbox !== undefined) {
      inbox.queue.push(queued)
      inbox.bytes += queued.bytes
      return
    }
    const started: Inbox = { queue: [queued], bytes: queued.bytes }
    this.inboxes.set(connection, started)
    void this.drain(connection, started)
  }

  /** Handles the socket's frames in order until none is left; never rejects. */
  private async drain(connection: ServerConnection<In, Out, User>, inbox: Inbox): Promise<void> {
    while (inbox.queue.length > 0) {
      const queued = inbox.queue[0]!
      if (queued.ack === undefined) this.deliver(connection, queued.frame)
      else answer(connection, await this.handle(connection, queued.frame, queued.ack))
      inbox.queue.shift()
      inbox.bytes -= queued.bytes
    }
    this.inboxes.delete(connection)
  }

  /** A plain message that waited behind acknowledged ones: the path `Mesa.receiveMessage` takes. */
  private deliver(connection: ServerConnection<In, Out, User>, frame: Frame): void {
    if (this.settings.authenticationRequired && !connection.authenticated) return
    this.stats.messagesIn++
    this.events.message(connection, frameToMessage(frame) as MessageOf<In>, frame)
  }

  /** Handles one acknowledged send (or not, as its claim says) and resolves with the op 41 answering it. */
  private async handle(connection: ServerConnection<In, Out, User>, frame: Frame, ack: NonNullable<Queued['ack']>): Promise<string> {
    const { id, key } = ack
    const claim = await ack.claim
    if (claim instanceof Error) {
      this.events.error(claim, connection)
      return errorFrame(id, 'unavailable', 'the message could not be checked for duplicates; send it again later')
    }
    if (claim === 'done') return replyFrame(id)
    if (claim === 'busy') return errorFrame(id, 'busy', 'the message is being handled; send it again later')
    this.stats.messagesIn++
    const failure = await this.events.acknowledgedMessage(connection, frameToMessage(frame) as MessageOf<In>, frame)
    // `new` came from the adapter, so it is there.
    const { dedupe } = this.adapter.current!
    const report = (error: unknown): void => this.events.error(toError(error), connection)
    if (failure === undefined) {
      // Acknowledged even when this fails (the message was handled); a retransmission may then be handled again.
      await dedupe.complete(key, this.settings.window).catch(report)
      return replyFrame(id)
    }
    // Forgotten, so that a retry is handled: the application did not take this one.
    await dedupe.abandon(key).catch(report)
    if (failure.stage === 'portal') return errorFrame(id, 'unavailable', 'the message could not be queued for portals; send it again later')
    const exposed = exposedReplyError(failure.error)
    return exposed ? errorFrame(id, exposed.code, exposed.message) : errorFrame(id, 'rejected', GENERIC_FAILURE)
  }

  /** A plain message arrived while the socket's inbox is full: it cannot be refused with an answer. */
  private overflow(connection: ServerConnection<In, Out, User>): void {
    const { maxInFlight, maxInFlightBytes } = this.settings
    const reason = `more than ${maxInFlight} messages or ${maxInFlightBytes} bytes waited behind acknowledged sends`
    this.stats.rateLimited++
    this.events.error(new ServerError('rate-limited', `${reason}: socket closed`), connection)
    connection.close(CloseCode.RateLimited, reason)
  }
}
