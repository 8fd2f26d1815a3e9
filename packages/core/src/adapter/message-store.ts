import type { StreamPosition } from '../stream-position.js'

/** Stream names: `user:<id>` for a user's own stream, `global` for broadcasts. */
export function userStream(userId: string): string {
  return `user:${userId}`
}

export const GLOBAL_STREAM = 'global'

/** What is stored for one message. */
export interface StoreEntryInput {
  /** The message frame as encoded by `encodeMessage`, without `s`. */
  frame: string
  /** Global stream: user ids this message excluded, so their replay skips it. */
  excluding?: string[]
  /** Global stream: the message went to authenticated users only (`['*']`). */
  authenticatedOnly?: boolean
  /** The recipient was offline when it was sent: what a 1.x client gets back on `shouldSync`. */
  undelivered?: boolean
}

export interface StoreAppend {
  stream: string
  entry: StoreEntryInput
}

export interface StoredEntry extends StoreEntryInput {
  seq: number
  /** When it was appended, ms since the epoch. */
  time: number
}

export type ReadResult =
  | { status: 'ok'; entries: StoredEntry[]; head: StreamPosition }
  /** The stream's history since that position was trimmed away (by count or age). */
  | { status: 'trimmed'; head: StreamPosition }
  /** The position belongs to another history of the stream. */
  | { status: 'epoch-changed'; head: StreamPosition }

/** What a stream still retains after a sequence number (see `MessageStore.readRetained`). */
export interface RetainedEntries {
  entries: StoredEntry[]
  head: StreamPosition
  /** Nothing after the sequence number was trimmed: `entries` is the whole history since. */
  complete: boolean
}

export interface RetentionOptions {
  /** Entries kept per stream. Default 1000. */
  maxEntries?: number
  /** Entries older than this (ms) are dropped. Default 24 h. */
  maxAgeMs?: number
  /**
   * Bytes kept per stream, counted as the UTF-8 length of each entry's frame and of its `excluding` list (as
   * JSON); the oldest entries are dropped until the stream is within it (an entry larger than this is not kept
   * at all). Default 16 MiB.
   */
  maxBytes?: number
}

/**
 * Redelivery history. Each stream has an epoch and a monotonically increasing sequence; the head (epoch and
 * last sequence) survives trimming, so an idle user's position does not expire with their data. A store keeps
 * itself within its retention bounds (count and age) as it goes: nothing calls it to trim. Maps onto Redis
 * Streams: append = XADD with MAXLEN/MINID, readAfter = XRANGE. `docs/adapters.md` gives the whole contract.
 */
export interface MessageStore {
  /** Appends one entry; resolves with its position once it is durable in the store. */
  append(stream: string, entry: StoreEntryInput): Promise<StreamPosition>
  /**
   * Appends several entries, each to its stream (a targeted send: one per recipient, sharing one frame
   * string), in one round trip; positions in the order given.
   */
  appendMany(items: readonly StoreAppend[]): Promise<StreamPosition[]>
  /** The stream's epoch and last sequence (0 when nothing was ever appended); creates the epoch if needed. */
  head(stream: string): Promise<StreamPosition>
  /**
   * Every entry after `position`, oldest first, or why they cannot all be given: all or nothing, never a
   * silently partial history.
   */
  readAfter(stream: string, position: StreamPosition, limit?: number): Promise<ReadResult>
  /**
   * Every entry the stream still retains after sequence `after` of its current epoch, oldest first, leaving out
   * what was trimmed. For Mesa 1.x clients, which cannot be told that history is missing: they get what is
   * left (the server reports the gap), where protocol 2 clients get `readAfter`'s all or nothing.
   */
  readRetained(stream: string, after: number): Promise<RetainedEntries>
  /** A named per-stream cursor (e.g. what 1.x clients of a user were last given); 0 when unset. */
  getCursor(stream: string, name: string): Promise<number>
  setCursor(stream: string, name: string, seq: number): Promise<void>
}
