/** Where an acknowledged client message stands (see `Deduplicator.begin`). */
export type DeliveryClaim =
  /** Nobody handled it: the caller handles it now, and must `complete` or `abandon` it within the lease. */
  | 'new'
  /** Another server (or an earlier attempt) is handling it right now: do not handle it; the client will retry. */
  | 'busy'
  /** It was handled: acknowledge it again without handling it. */
  | 'done'

/**
 * The memory of which acknowledged client messages (`client.send(message, { ack: true })`) were handled, shared by
 * every server of the adapter, so that a message retransmitted after a lost acknowledgement, on any server, is
 * handled once. Keys are opaque strings (the client instance id and the message id).
 *
 * A claim is a lease: a server that dies while handling leaves a `busy` claim that lapses after `leaseMs`, so a
 * retry is handled then, rather than acknowledged without anyone having handled it.
 */
export interface Deduplicator {
  /** Claims `key` for `leaseMs` unless it is claimed or done. */
  begin(key: string, leaseMs: number): Promise<DeliveryClaim>
  /** The message was handled: `begin` answers `done` for `windowMs`. */
  complete(key: string, windowMs: number): Promise<void>
  /** Handling failed: forgets the claim, so that a retry handles it. */
  abandon(key: string): Promise<void>
  /**
   * Optional, for a deduplicator bounded by count (`MemoryDeduplicator`): done claims it forgot before their
   * window ended, whose retransmissions are handled again. Servers export it as `mesa_dedupe_evicted_total`.
   */
  readonly evicted?: number
}
