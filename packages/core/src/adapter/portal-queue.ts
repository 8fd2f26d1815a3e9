import type { Frame } from '../codec.js'

/** A client event sent to portals. `clientId` names the socket, `userId` the authenticated user if any. */
export type PortalEvent =
  | { kind: 'connection'; clientId: string; serverId: string; time: number }
  | { kind: 'authentication'; clientId: string; serverId: string; userId: string; time: number }
  | { kind: 'message'; clientId: string; serverId: string; userId?: string; frame: Frame; time: number }
  | { kind: 'disconnection'; clientId: string; serverId: string; userId?: string; time: number }
  /** The socket subscribed to `channel` (from the client, the server or a dispatcher). */
  | { kind: 'subscribe'; clientId: string; serverId: string; userId?: string; channel: string; time: number }
  /** The socket's subscription to `channel` ended (unsubscribed, or the socket closed). */
  | { kind: 'unsubscribe'; clientId: string; serverId: string; userId?: string; channel: string; time: number }
  /**
   * A request (op 40) no handler of the server took: a portal answers it (the handler's result is the reply),
   * sent back through the adapter to `serverId`, which writes it to the socket. `requestId` is the client's `x.id`.
   */
  | { kind: 'request'; clientId: string; serverId: string; userId?: string; requestId: number; frame: Frame; time: number }

export interface PortalConsumerOptions {
  /** Unique id of this portal. */
  consumerId: string
  /** true: this portal gets every event, besides the one portal that handles each. */
  reportAllEvents?: boolean
}

/** Handles one event; the event counts as done when the promise resolves. A rejection leaves it for redelivery. */
export type PortalHandler = (event: PortalEvent) => void | Promise<void>

export interface PortalConsumer {
  /** Stops taking events; unfinished ones go to other portals. */
  close(): Promise<void>
}

/**
 * A portal started consuming from the queue (`join`), or stopped: it closed its consumer, or it died and its
 * liveness lapsed (`leave`). `portalId` is the `consumerId` it consumes under.
 */
export interface PortalMembershipEvent {
  kind: 'join' | 'leave'
  portalId: string
}

/**
 * Receives membership changes. It must not throw: what it throws is dropped (the Redis adapter reports it as
 * an `error` event).
 */
export type PortalMembershipListener = (event: PortalMembershipEvent) => void

/**
 * Load-balanced, at-least-once delivery of client events to portals: each event goes to exactly one live
 * portal; events taken by a portal that died before finishing are given to another after
 * `claimTimeoutMs`; with no portal running, events wait (up to a bound) instead of vanishing.
 *
 * Every consumer, `reportAllEvents` ones included, is a member of the queue from `consume()` until its
 * `close()`, or until it dies (an implementation shared by processes detects that with a liveness TTL).
 */
export interface PortalQueue {
  push(event: PortalEvent): Promise<void>
  consume(options: PortalConsumerOptions, handler: PortalHandler): Promise<PortalConsumer>
  /**
   * Reports which portals consume, across everything sharing the queue. Each current member is reported as a
   * `join` before the promise resolves; then every change, in order. For one listener a portal alternates
   * `join` and `leave`, starting with `join`. Resolves with the function that stops the reports.
   */
  watchMembers(listener: PortalMembershipListener): Promise<() => Promise<void>>
  /**
   * Events no portal has finished yet: waiting for a portal, or being handled (what `maxPending` bounds). A
   * server's metrics report it as the queue's depth. Optional: a queue that cannot tell leaves it out.
   */
  pending?(): Promise<number>
}
