import type { AnyMessageData, MessageMap, MessageOf } from '@mesa/core'

/** The map used when none is given: any type name, data of unknown shape (client input, check it). */
export type UntypedMessages = { [type: string]: AnyMessageData }

/**
 * What a portal tells its listeners. User ids come first as in Mesa 1.x, where the portal's `clientId` was
 * the authenticated user's id; `clientId` here names the socket.
 */
export interface PortalEvents<M extends MessageMap<M> = UntypedMessages> {
  /** A socket connected to a server (not yet authenticated). */
  connection: [clientId: string, info: PortalEventInfo]
  /** A socket authenticated as `userId`. */
  authentication: [userId: string, clientId: string, info: PortalEventInfo]
  /** A client sent a message; `userId` is absent when the socket had not authenticated. */
  message: [message: MessageOf<M>, userId: string | undefined, clientId: string, info: PortalEventInfo]
  /** A socket closed; `userId` is absent when it never authenticated. */
  disconnection: [userId: string | undefined, clientId: string, info: PortalEventInfo]
  /** A listener or `handler` failed (the event is left for redelivery), or the adapter reported a failure. */
  error: [error: Error]
  /** The portal is consuming events. */
  ready: []
}

/** Where and when an event happened. */
export interface PortalEventInfo {
  /** Id of the server that holds the socket. */
  serverId: string
  /** When the server saw the event, ms since the Unix epoch. */
  time: number
}

/** One event as the `handler` option receives it, discriminated by `kind`. */
export type PortalDelivery<M extends MessageMap<M> = UntypedMessages> =
  | ({ kind: 'connection'; clientId: string } & PortalEventInfo)
  | ({ kind: 'authentication'; clientId: string; userId: string } & PortalEventInfo)
  | ({ kind: 'message'; clientId: string; userId: string | undefined; message: MessageOf<M> } & PortalEventInfo)
  | ({ kind: 'disconnection'; clientId: string; userId: string | undefined } & PortalEventInfo)
