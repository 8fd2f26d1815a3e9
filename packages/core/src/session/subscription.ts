import { TypedEmitter } from '../emitter.js'
import type { SubscriptionError } from '../errors.js'
import type { AnyMessageData, MessageMap, MessageOf } from '../message.js'
import type { ResyncReason, StreamPosition } from '../stream-position.js'

/** Message types when none are declared: any type name, data an object of unknown fields. */
export type UntypedMessages = { [type: string]: AnyMessageData }

/** Channels when none are declared: any name, carrying untyped messages. */
export type UntypedChannels = { [channel: string]: UntypedMessages }

export interface SubscribeOptions {
  /** Given to the server's authorize hook (`mesa.channels.authorize`). Default `{}`. */
  params?: Record<string, unknown>
  /** Resume from this position (a `subscription.position` kept from earlier): what came after it is replayed. */
  since?: StreamPosition
}

/** What `subscribed` tells: whether what was missed since `since` (or the last position) was replayed. */
export interface SubscribedInfo {
  /**
   * True when everything after the position the client asked from was replayed (or none was asked). False when
   * that history is gone (`reason`): nothing of it is replayed, reload the channel's state.
   */
  recovered: boolean
  reason?: ResyncReason
  /** The head of the channel's stream when the server subscribed the socket. */
  position: StreamPosition | undefined
}

/** A user joined or left a channel (only on channels whose rule asks for join/leave events). */
export interface PresenceEvent {
  user: string
  joined: boolean
}

export interface SubscriptionEvents<M extends MessageMap<M> = UntypedMessages> {
  /** A publication on the channel; a stored one only once, in order, across reconnects. */
  message: [message: MessageOf<M>]
  /** The server subscribed this socket: after `subscribe()`, and again after every reconnect. */
  subscribed: [info: SubscribedInfo]
  /**
   * The subscription is over: `client` after `unsubscribe()`, `disconnected` for a subscription the server made
   * (it lasts as long as its connection), or the server's reason (the application, authorization revoked...).
   */
  unsubscribed: [reason: string]
  presence: [event: PresenceEvent]
  /**
   * The server refused the subscription (its answer to the subscribe, or its refusal to renew it after a
   * reconnect), or it cannot have any (Mesa 1.x): the subscription is over.
   */
  error: [error: SubscriptionError]
}

/**
 * One channel subscription of a client: `client.subscribe(channel)` creates it, and the server's own
 * subscriptions of a socket appear as these too (`client.subscriptions`, the client's `subscription` event).
 * The client owns its state; this object is the application's handle on it.
 */
export class Subscription<M extends MessageMap<M> = UntypedMessages> extends TypedEmitter<SubscriptionEvents<M>> {
  // `declare`: assigned in the constructor, so field declarations would only add bytes to browser bundles.
  declare readonly channel: string
  declare readonly params: Record<string, unknown> | undefined
  /**
   * The position of the last message delivered (or of the head when subscribed); undefined until the server
   * told one. Keep it to resume a later subscription from it (`since`). Updated by the client.
   */
  declare position: StreamPosition | undefined
  /** The server subscribed the socket (op 31 `srv`): such a subscription lasts as long as its connection. */
  declare readonly server: boolean
  /**
   * Ends the subscription at once (no more messages, no resubscription) and tells the server; resolves when the
   * server confirmed or the connection closed, rejects with `SubscriptionError` when the server refused.
   */
  declare readonly unsubscribe: () => Promise<void>
  /**
   * @internal The client's: 1 while its subscribe awaits the answer (op 31) on the current socket, 2 once it
   * came, 0 or undefined when not asked for there. Mangled in the browser build (`_` names are internal).
   */
  declare _asked: number | undefined

  /** @internal Made by the client. */
  constructor(
    channel: string,
    params: Record<string, unknown> | undefined,
    position: StreamPosition | undefined,
    server: boolean,
    unsubscribe: () => Promise<void>,
  ) {
    super()
    this.channel = channel
    this.params = params
    this.position = position
    this.server = server
    this.unsubscribe = unsubscribe
  }
}
