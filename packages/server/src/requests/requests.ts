import { type Frame, type Message, type MessageMap, Opcode } from '@mesa/core'
import type { ReplyEnvelope } from '@mesa/core/server'
import type { AdapterHandle } from '../adapter-handle.js'
import type { Connection } from '../connection.js'
import { toError } from '../errors.js'
import type { ServerClient } from '../server-client.js'
import type { ServerConnection, ServerEvents } from '../server-events.js'
import type { MesaStats } from '../stats.js'
import { AcknowledgedSends, type AckSettings } from './acknowledged-sends.js'
import { CredentialExpiry } from './credential-expiry.js'
import { DeadlineQueue } from './deadline-queue.js'
import { type IncomingRequestSettings, IncomingRequests } from './incoming-requests.js'
import { OutgoingRequests, type RequestOptions } from './outgoing-requests.js'
import { RequestHandlers } from './request-handlers.js'

/** The options of `resolveConfig` the request modules read. */
export interface RequestSettings extends IncomingRequestSettings {
  acks: Omit<AckSettings, 'authenticationRequired'>
  /** `authentication.refreshBefore`. */
  refreshBefore: number
}

/**
 * Everything that expects an answer, wired once for the server: requests from clients (`IncomingRequests`) and
 * to them (`OutgoingRequests`), acknowledged sends (`AcknowledgedSends`) and expiring authentications
 * (`CredentialExpiry`), sharing one `DeadlineQueue` timer. `receive` takes the frames that are theirs.
 */
export class Requests<In extends MessageMap<In>, Out extends MessageMap<Out>, User> {
  readonly handlers = new RequestHandlers<ServerClient<In, Out, User>>()
  readonly expiry: CredentialExpiry
  private readonly deadlines: DeadlineQueue
  private readonly incoming: IncomingRequests<ServerClient<In, Out, User>>
  private readonly outgoing: OutgoingRequests
  private readonly acks: AcknowledgedSends<In, Out, User>

  constructor(settings: RequestSettings, adapter: AdapterHandle, events: ServerEvents<In, Out, User>, stats: MesaStats) {
    this.deadlines = new DeadlineQueue((error) => events.error(toError(error)))
    this.expiry = new CredentialExpiry(settings.refreshBefore, this.deadlines)
    const report = (error: Error, connection?: Connection): void =>
      events.error(error, connection as ServerConnection<In, Out, User> | undefined)
    this.incoming = new IncomingRequests(settings, this.handlers, this.deadlines, adapter, report)
    this.outgoing = new OutgoingRequests(settings.maxPending, this.deadlines)
    const acks = { ...settings.acks, authenticationRequired: settings.authenticationRequired }
    this.acks = new AcknowledgedSends(acks, adapter, events, stats)
  }

  /**
   * Takes the frames that are requests' business: op 40 and op 41 (from protocol 2 sockets: `readClientFrame`
   * refuses them from others), and op 0 that are acknowledged sends or wait behind one. False for anything else.
   */
  receive(connection: ServerConnection<In, Out, User>, frame: Frame, bytes: number): boolean {
    if (frame.op === Opcode.Request) this.incoming.receive(connection, frame)
    else if (frame.op === Opcode.Reply) this.outgoing.answer(connection, frame)
    else if (frame.op === Opcode.Dispatch && this.acks.takes(connection, frame)) this.acks.receive(connection, frame, bytes)
    else return false
    return true
  }

  /** A portal's answer to a client's request. */
  reply(envelope: ReplyEnvelope): void {
    this.incoming.reply(envelope)
  }

  /** `client.request`. */
  request<R extends object>(
    connection: ServerConnection<In, Out, User>,
    message: Message<string, object>,
    options?: RequestOptions,
  ): Promise<Message<string, R>> {
    return this.outgoing.request<R>(connection, message, options)
  }

  closed(connection: ServerConnection<In, Out, User>): void {
    this.incoming.closed(connection)
    this.outgoing.closed(connection)
    this.expiry.closed(connection)
  }

  /** The server closed: no deadline is left to fire. */
  stop(): void {
    this.deadlines.clear()
  }
}
