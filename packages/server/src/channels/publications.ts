import { AdapterError, type Message, type MessageMap, Opcode } from '@mesa/core'
import {
  type ChannelPresenceEnvelope,
  channelNameProblem,
  type PublicationEnvelope,
  preparePublication,
} from '@mesa/core/server'
import { type AdapterHandle, publishTimed } from '../adapter-handle.js'
import { ChannelError, ServerError } from '../errors.js'
import { debugMessages } from '../logging.js'
import { isMessage } from '../message-check.js'
import { channelKey } from '../redelivery.js'
import type { ServerConnection, ServerEvents } from '../server-events.js'
import { type MesaStats, timed } from '../stats.js'
import { channelExtension, presenceFrame, publicationFrame } from './channel-frames.js'
import type { ChannelRegistry } from './channel-registry.js'
import type { ChannelRules } from './channel-rules.js'

type AnyMessage = Message<string, object>

/** Throws `ChannelError` `invalid-channel` for a name that breaks the rules. */
export function checkChannel(channel: unknown): asserts channel is string {
  const problem = channelNameProblem(channel)
  if (problem !== undefined) throw new ChannelError('invalid-channel', problem)
}

/**
 * The publication path, one way: `publish` checks, stores the publication once in the channel's stream when its
 * rule keeps history (`preparePublication`; with the adapter's `storeAndPublish`, publishing it in the same
 * step), writes it to this server's subscribers and publishes it to the servers following the channel;
 * `receive` writes what the others publish. Join and leave events (op 34) take the same way (`announce`). Each
 * frame variant is built once per publication: the 1.x frame, and for protocol 2 the one with `x.ch` (and `s`
 * when stored).
 */
export class Publications<In extends MessageMap<In>, Out extends MessageMap<Out>, User> {
  constructor(
    private readonly origin: string,
    private readonly registry: ChannelRegistry<ServerConnection<In, Out, User>>,
    private readonly rules: ChannelRules,
    private readonly adapter: AdapterHandle,
    private readonly events: ServerEvents<In, Out, User>,
    private readonly stats: MesaStats,
  ) {}

  /** `mesa.publish`: see its documentation. */
  async publish(channel: string, message: AnyMessage): Promise<void> {
    checkChannel(channel)
    if (!isMessage(message) || message.opcode !== Opcode.Dispatch) {
      throw new ServerError('invalid-message', 'publish() takes a Message of opcode 0')
    }
    const adapter = await this.adapter.get()
    const store = this.rules.for(channel).history
    const { envelope, published } = await timed(this.stats, () =>
      preparePublication(adapter, channel, message, { origin: this.origin, store }),
    )
    if (debugMessages.enabled) debugMessages('publish %s to channel %s', message.type, channel)
    this.deliver(envelope, true, message)
    if (!published) await publishTimed(adapter, this.stats, envelope, `publishing to channel ${channel}`)
    this.stats.channels.published++
  }

  /** A publication or a join/leave event from another server (or a dispatcher). */
  receive(envelope: PublicationEnvelope | ChannelPresenceEnvelope): void {
    if (envelope.origin === this.origin) return
    if (envelope.kind === 'presence') {
      this.deliverPresence(envelope.channel, envelope.userId, envelope.joined)
      return
    }
    if (typeof envelope.frame !== 'string') throw new AdapterError('received a publication envelope without a frame')
    this.stats.channels.received++
    this.deliver(envelope, false)
  }

  /**
   * A user joined (their first socket subscribed) or left a channel whose rule has `joinLeave`: op 34 everywhere.
   * Resolves once published; rejects with `AdapterError`.
   */
  async announce(channel: string, userId: string, joined: boolean): Promise<void> {
    this.deliverPresence(channel, userId, joined)
    const envelope: ChannelPresenceEnvelope = { kind: 'presence', origin: this.origin, channel, userId, joined }
    const adapter = await this.adapter.get()
    await publishTimed(adapter, this.stats, envelope, `announcing a ${joined ? 'join' : 'leave'} in channel ${channel}`)
  }

  private deliver(envelope: PublicationEnvelope, fromHere: boolean, message?: AnyMessage): void {
    const { channel, frame, position } = envelope
    const sockets = this.registry.sockets(channel)
    if (sockets === undefined) return
    const key = channelKey(channel)
    const seq = position?.seq
    let v2: string | undefined
    for (const connection of sockets) {
      if (connection.protocol === 2) {
        v2 ??= publicationFrame(frame, channelExtension(channel), seq)
        connection.delivery.writeSequenced(key, seq, v2, position?.epoch)
      } else {
        // Mesa 1.x: the plain frame, no `s`, no `x`.
        connection.delivery.writeSequenced(key, undefined, frame)
      }
    }
    if (this.events.collectingSent) this.events.sent([...sockets], message ?? frame, fromHere)
  }

  /** op 34 to the channel's protocol 2 subscribers here, in order with its publications. */
  private deliverPresence(channel: string, userId: string, joined: boolean): void {
    const sockets = this.registry.sockets(channel)
    if (sockets === undefined) return
    const key = channelKey(channel)
    let frame: string | undefined
    for (const connection of sockets) {
      if (connection.protocol !== 2) continue
      frame ??= presenceFrame(channel, userId, joined)
      connection.delivery.writeSequenced(key, undefined, frame)
    }
  }
}
