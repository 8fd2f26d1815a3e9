import {
  type Adapter,
  AdapterError,
  CloseCode,
  type DisconnectEnvelope,
  type DispatchEnvelope,
  type Envelope,
  encodeMessage,
  frameToMessage,
  InternalType,
  MesaError,
  type Message,
  Opcode,
  parseFrame,
  prepareDispatch,
} from '@mesa/core'
import type { ResolvedConfig } from './config.js'
import type { Connection } from './connection.js'
import { deliverLocally } from './local-delivery.js'
import type { RecipientIndex } from './recipient-index.js'

type AnyMessage = Message<string, object>

/** What the send path needs from its server. */
export interface OutboundHost<User> {
  readonly config: ResolvedConfig
  readonly id: string
  readonly connections: ReadonlySet<Connection<User>>
  readonly index: RecipientIndex<Connection<User>>
  adapter(): Adapter | Promise<Adapter>
  /** Someone wants to know which sockets got a message (`onMessageSent`, `storeMessages`). */
  collecting(): boolean
  sent(connections: Connection<User>[], message: AnyMessage, fromHere: boolean): void
  /** `onUndeliverableMessageSent`, or undefined when nobody listens. */
  undeliverable(): ((message: AnyMessage, userIds: string[]) => void) | undefined
}

export function isMessage(value: unknown): value is AnyMessage {
  if (typeof value !== 'object' || value === null) return false
  const { opcode, data, options } = value as Partial<AnyMessage>
  return Number.isInteger(opcode) && typeof data === 'object' && data !== null && typeof options === 'object'
}

function checkUserIds(name: string, ids: unknown): asserts ids is readonly string[] | undefined {
  if (ids === undefined) return
  if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) {
    throw new MesaError('invalid-recipients', `${name} must be an array of user ids (strings)`)
  }
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value))
}

/**
 * The send path: stores (through `prepareDispatch`), writes to this server's sockets, publishes to the others;
 * and delivers what the others publish.
 */
export class Outbound<User> {
  constructor(private readonly host: OutboundHost<User>) {}

  /** `mesa.send`: see its documentation. */
  async send(
    message: AnyMessage,
    recipients: readonly string[] | undefined,
    excluding: readonly string[] | undefined,
  ): Promise<void> {
    if (!isMessage(message)) throw new MesaError('invalid-message', 'send() takes a Message')
    checkUserIds('recipients', recipients)
    checkUserIds('excluding', excluding)
    if (message.opcode === Opcode.Internal) {
      if (message.type !== InternalType.DisconnectClient) {
        throw new MesaError('invalid-message', `opcode 5 carries only ${InternalType.DisconnectClient}`)
      }
      await this.disconnect((recipients ?? []).filter((id) => id !== '*' && !excluding?.includes(id)))
      return
    }
    const adapter = await this.host.adapter()
    const undeliverable = this.host.undeliverable()
    const envelope = await prepareDispatch(adapter, message, recipients, excluding, {
      sync: this.host.config.sync.enabled,
      origin: this.host.id,
      onUndelivered: undeliverable && ((userIds) => undeliverable(message, userIds)),
    })
    if (envelope.recipients?.length === 0) return
    this.deliver(envelope, true, message)
    try {
      await adapter.publish(envelope)
    } catch (error) {
      throw error instanceof AdapterError
        ? error
        : new AdapterError(`publishing the message to other servers failed: ${toError(error).message}`, { cause: error })
    }
  }

  /** `client.send` before authentication: this socket only, outside any stream. */
  sendToSocket(connection: Connection<User>, message: AnyMessage): void {
    if (!isMessage(message)) throw new MesaError('invalid-message', 'send() takes a Message')
    if (message.opcode === Opcode.Internal) {
      connection.close(CloseCode.DisconnectedByServer, 'disconnected by the server')
      return
    }
    connection.delivery.write(encodeMessage(message))
    if (this.host.collecting()) this.host.sent([connection], message, true)
  }

  /** An envelope from another server or a dispatcher. */
  receive(envelope: Envelope): void {
    if (envelope.origin === this.host.id) return
    if (envelope.kind === 'dispatch') {
      if (typeof envelope.frame !== 'string') throw new AdapterError('received a dispatch envelope without a frame')
      this.deliver(envelope, false)
    } else if (envelope.kind === 'disconnect') {
      this.closeUsers(envelope)
    }
  }

  private deliver(envelope: DispatchEnvelope, fromHere: boolean, message?: AnyMessage): void {
    const { config, connections, index } = this.host
    const collect = this.host.collecting()
    const sent = deliverLocally(
      { all: connections, index, authenticatedOnly: config.authentication.required },
      envelope,
      collect,
    )
    if (sent === undefined || sent.length === 0) return
    let delivered = message
    if (delivered === undefined) {
      const parsed = parseFrame(envelope.frame)
      if (!parsed.ok) return
      delivered = frameToMessage(parsed.frame)
    }
    this.host.sent(sent, delivered, fromHere)
  }

  private async disconnect(userIds: string[]): Promise<void> {
    if (userIds.length === 0) return
    const envelope: DisconnectEnvelope = { kind: 'disconnect', origin: this.host.id, userIds }
    this.closeUsers(envelope)
    const adapter = await this.host.adapter()
    await adapter.publish(envelope)
  }

  private closeUsers(envelope: DisconnectEnvelope): void {
    const code = envelope.code ?? CloseCode.DisconnectedByServer
    const reason = envelope.reason ?? 'disconnected by the server'
    for (const userId of envelope.userIds) {
      const sockets = this.host.index.get(userId)
      if (sockets === undefined) continue
      for (const connection of [...sockets]) connection.close(code, reason)
    }
  }
}
