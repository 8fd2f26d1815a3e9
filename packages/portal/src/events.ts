import type { AnyMessageData, Message, MessageMap, MessageOf, RequestMap, UntypedRequests } from '@mesa/core'

/** The map used when none is given: any type name, data of unknown shape (client input, check it). */
export type UntypedMessages = { [type: string]: AnyMessageData }

/** A request of any type of the map `R` (its data: the map's `request`), discriminated by `type`. */
export type RequestOf<R extends RequestMap<R>> = { [K in keyof R & string]: Message<K, R[K]['request']> }[keyof R & string]

/**
 * What a request listener or the `handler` answers a request with: a `Message` (its type and data are the reply's)
 * or an object (the reply's data). `undefined` leaves the request to the next listener, then to the `handler`.
 */
export type PortalReply = Message<string, object> | object

/**
 * What a portal tells its listeners. User ids come first as in Mesa 1.x, where the portal's `clientId` was
 * the authenticated user's id; `clientId` here names the socket. `M` types client messages, `R` requests (a
 * `RequestMap`, as servers and clients take).
 */
export interface PortalEvents<M extends MessageMap<M> = UntypedMessages, R extends RequestMap<R> = UntypedRequests> {
  /** A socket connected to a server (not yet authenticated). */
  connection: [clientId: string, info: PortalEventInfo]
  /** A socket authenticated as `userId`. */
  authentication: [userId: string, clientId: string, info: PortalEventInfo]
  /** A client sent a message; `userId` is absent when the socket had not authenticated. */
  message: [message: MessageOf<M>, userId: string | undefined, clientId: string, info: PortalEventInfo]
  /** A socket closed; `userId` is absent when it never authenticated. */
  disconnection: [userId: string | undefined, clientId: string, info: PortalEventInfo]
  /** A socket subscribed to `channel` (the client asked, or the server or a dispatcher subscribed it). */
  subscribe: [channel: string, userId: string | undefined, clientId: string, info: PortalEventInfo]
  /** A socket's subscription to `channel` ended (it unsubscribed or was unsubscribed, or it closed). */
  unsubscribe: [channel: string, userId: string | undefined, clientId: string, info: PortalEventInfo]
  /**
   * A client's request that no handler of its server takes. The first listener to return (or resolve with) a
   * `PortalReply` answers it; throwing (or rejecting) refuses it (see the README).
   */
  request: [request: RequestOf<R>, userId: string | undefined, clientId: string, info: PortalEventInfo]
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
export type PortalDelivery<M extends MessageMap<M> = UntypedMessages, R extends RequestMap<R> = UntypedRequests> =
  | ({ kind: 'connection'; clientId: string } & PortalEventInfo)
  | ({ kind: 'authentication'; clientId: string; userId: string } & PortalEventInfo)
  | ({ kind: 'message'; clientId: string; userId: string | undefined; message: MessageOf<M> } & PortalEventInfo)
  | ({ kind: 'disconnection'; clientId: string; userId: string | undefined } & PortalEventInfo)
  | ({ kind: 'subscribe' | 'unsubscribe'; clientId: string; userId: string | undefined; channel: string } & PortalEventInfo)
  /** `requestId` is the client's id of the request on its socket. */
  | ({
      kind: 'request'
      clientId: string
      userId: string | undefined
      requestId: number
      request: RequestOf<R>
    } & PortalEventInfo)
