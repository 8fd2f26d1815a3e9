/**
 * Redelivery streams. Every synced message gets the next sequence number of a stream: a user's own stream
 * for targeted sends, the global stream for broadcasts. An epoch names one history of a stream; it changes
 * when that history is lost (store restarted, data dropped), and a position from another epoch does not resume.
 */
export type StreamKind = 'user' | 'global'

export interface StreamPosition {
  epoch: string
  seq: number
}

/** Positions a client resumes from; a stream it has no position for is not resumed. */
export interface ResumePositions {
  user?: StreamPosition
  global?: StreamPosition
}

export type ResyncReason = 'trimmed' | 'epoch-changed' | 'store-unavailable'

/** What a v2 client learns when it authenticates (carried in op 22's `x`). */
export interface AuthenticationResult<User = unknown> {
  user: User
  /** Heads of the client's streams at authentication, before any message of this session. */
  streams: ResumePositions
  /**
   * True when every requested stream was replayed in full (or nothing was asked). False when history the
   * client needs is gone: it must reload its state; nothing of the partial history is replayed.
   */
  recovered: boolean
  reason?: ResyncReason
}

export function isStreamPosition(value: unknown): value is StreamPosition {
  // Destructuring finds nothing on a primitive; `?? {}` stands in for null and undefined.
  const { epoch, seq } = (value ?? {}) as Record<string, unknown>
  return typeof epoch === 'string' && epoch.length > 0 && epoch.length <= 64 && isSequence(seq)
}

export function isSequence(value: unknown): value is number {
  // `isSafeInteger` is false for anything that is not a number.
  return Number.isSafeInteger(value) && (value as number) >= 0
}
