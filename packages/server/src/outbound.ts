import { AdapterError, CloseCode, type Message, type MessageMap, Opcode } from '@mesa/core'
import {
  type DisconnectEnvelope,
  type DispatchEnvelope,
  type Envelope,
  encodeMessage,
  InternalType,
  prepareDispatch,
  userIdsProblem,
} from '@mesa/core/server'
import { type AdapterHandle, publishTimed } from './adapter-handle.js'
import { ServerError } from './errors.js'
import { deliverLocally } from './local-delivery.js'
import { isMessage } from './message-check.js'
import { debugMessages } from './logging.js'
import type { ConnectionRegistry } from './registry.js'
import type { ServerClient } from './server-client.js'
import type { ServerConnection, ServerEvents } from './server-events.js'
import { type MesaStats, timed } from './stats.js'

type AnyMessage = Message<string, object>

/** The rule the Dispatcher applies too (`userIdsProblem`), with the server's error. */
function checkUserIds(what: string, ids: unknown, allowEveryone: boolean): asserts ids is readonly string[] | undefined {
  if (ids === undefined) return
  const problem = userIdsProblem(what, ids, allowEveryone)
  if (problem !== undefined) throw new ServerError('invalid-recipients', problem)
}

/**
 * The send path, one way: `send` checks the message, stores it (`prepareDispatch`, when synced), writes it to
 * this server's sockets (`deliverLocally`) and publishes it to the others; `receive` delivers what the others
 * publish. It tells `events` which sockets got what; nothing flows back into the server.
 */
export class Outbound<In extends MessageMap<In>, Out extends MessageMap<Out>, User> {
  constructor(
    private readonly origin: string,
    private readonly settings: { sync: boolean; authenticatedOnly: boolean },
    private readonly registry: ConnectionRegistry<User, ServerClient<In, Out, User>>,
    private readonly adapter: AdapterHandle,
    private readonly events: ServerEvents<In, Out, User>,
    private readonly stats: MesaStats,
  ) {}

  /** `mesa.send`: see its documentation. */
  async send(message: AnyMessage, recipients: readonly string[] | undefined, excluding: readonly string[] | undefined): Promise<void> {
    if (!isMessage(message)) throw new ServerError('invalid-message', 'send() takes a Message')
    if (message.opcode === Opcode.Internal) {
      if (message.type !== InternalType.DisconnectClient) {
        throw new ServerError('invalid-message', `opcode 5 carries only ${InternalType.DisconnectClient}`)
      }
      checkUserIds('DISCONNECT_CLIENT user ids', recipients, false)
      checkUserIds('excluding', excluding, true)
      await this.disconnect((recipients ?? []).filter((id) => !excluding?.includes(id)))
      return
    }
    checkUserIds('recipients', recipients, true)
    checkUserIds('excluding', excluding, true)
    const adapter = await this.adapter.get()
    const undeliverable = this.events.undeliverable
    const envelope = await timed(this.stats, () =>
      prepareDispatch(adapter, message, recipients, excluding, {
        sync: this.settings.sync,
        origin: this.origin,
        onUndelivered: undeliverable && ((userIds) => undeliverable(message, userIds)),
      }),
    )
    if (debugMessages.enabled) {
      debugMessages('send %s to %s', message.type, envelope.recipients ? `${envelope.recipients.length} users` : 'everyone')
    }
    if (envelope.recipients?.length === 0) return
    this.deliver(envelope, true, message)
    await publishTimed(adapter, this.stats, envelope, 'publishing the message to other servers')
  }

  /** `client.send` before authentication: this socket only, outside any stream. */
  sendToSocket(connection: ServerConnection<In, Out, User>, message: AnyMessage): void {
    if (!isMessage(message)) throw new ServerError('invalid-message', 'send() takes a Message')
    if (message.opcode === Opcode.Internal) {
      connection.close(CloseCode.DisconnectedByServer, 'disconnected by the server')
      return
    }
    connection.delivery.write(encodeMessage(message))
    if (this.events.collectingSent) this.events.sent([connection], message, true)
  }

  /** An envelope from another server or a dispatcher. */
  receive(envelope: Envelope): void {
    if (envelope.origin === this.origin) return
    if (debugMessages.enabled) debugMessages('%s envelope from %s', envelope.kind, envelope.origin)
    if (envelope.kind === 'dispatch') {
      if (typeof envelope.frame !== 'string') throw new AdapterError('received a dispatch envelope without a frame')
      this.deliver(envelope, false)
    } else if (envelope.kind === 'disconnect') {
      this.closeUsers(envelope)
    }
  }

  private deliver(envelope: DispatchEnvelope, fromHere: boolean, message?: AnyMessage): void {
    const collect = this.events.collectingSent
    const sent = deliverLocally(
      { all: this.registry.all, index: this.registry.index, authenticatedOnly: this.settings.authenticatedOnly },
      envelope,
      collect,
    )
    if (sent !== undefined) this.events.sent(sent, message ?? envelope.frame, fromHere)
  }

  private async disconnect(userIds: string[]): Promise<void> {
    if (userIds.length === 0) return
    const envelope: DisconnectEnvelope = { kind: 'disconnect', origin: this.origin, userIds }
    this.closeUsers(envelope)
    const adapter = await this.adapter.get()
    await timed(this.stats, () => adapter.publish(envelope))
  }

  private closeUsers(envelope: DisconnectEnvelope): void {
    const code = envelope.code ?? CloseCode.DisconnectedByServer
    const reason = envelope.reason ?? 'disconnected by the server'
    for (const userId of envelope.userIds) {
      const sockets = this.registry.index.get(userId)
      if (sockets === undefined) continue
      for (const connection of [...sockets]) connection.close(code, reason)
    }
  }
}
