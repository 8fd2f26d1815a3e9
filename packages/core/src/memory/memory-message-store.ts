import type {
  MessageStore,
  ReadResult,
  RetainedEntries,
  RetentionOptions,
  StoreAppend,
  StoredEntry,
  StoreEntryInput,
} from '../adapter/message-store.js'
import { checkPositiveInteger } from '../check-number.js'
import { StoreError } from '../errors.js'
import { isSequence, type StreamPosition } from '../stream-position.js'
import { randomId } from './random-id.js'
import { resolveRetention } from './retention.js'
import { utf8Length } from './utf8-length.js'

/** Bytes kept across every stream when `MemoryMessageStoreOptions.maxTotalBytes` is not given: 128 MiB. */
export const DEFAULT_MAX_TOTAL_BYTES = 128 * 1024 * 1024

/** `RetentionOptions`, and the bound only a store in a process's memory needs: one across its streams. */
export interface MemoryRetentionOptions extends RetentionOptions {
  /**
   * Bytes kept across every stream, counted as `maxBytes` counts them. The per-stream bounds alone grow with the
   * number of streams (10,000 users at the default 16 MiB each could ask for 160 GiB). Past it, the streams
   * appended to longest ago give up their oldest entries first: a client resuming from before them reads
   * `trimmed` (`recovered: false`). Default `DEFAULT_MAX_TOTAL_BYTES` (128 MiB).
   */
  maxTotalBytes?: number
}

export interface MemoryMessageStoreOptions extends MemoryRetentionOptions {
  /** Clock (ms since the Unix epoch) used to stamp and expire entries. Default `Date.now`. */
  now?: () => number
}

interface StreamState {
  epoch: string
  seq: number
  /** Retained entries are `entries[start..]`, with consecutive sequence numbers. */
  entries: StoredEntry[]
  /** The size in bytes of each entry of `entries` (see `RetentionOptions.maxBytes`). */
  sizes: number[]
  start: number
  /** The sizes of the retained entries, summed. */
  bytes: number
  lastAppend: number
  cursors: Map<string, number> | undefined
}

/** Below this many dropped slots the array is not compacted: slicing tiny prefixes would cost more than it frees. */
const COMPACT_MIN = 32

/**
 * Redelivery history for one process.
 *
 * Memory stays bounded without a timer: each stream retains at most `maxEntries` entries and `maxBytes` bytes,
 * none older than `maxAgeMs`, and all of them together at most `maxTotalBytes` (the streams appended to longest
 * ago give up their oldest entries first); streams are kept in order of their last append, and every call first
 * empties the streams that got nothing for `maxAgeMs`, so an idle user's entries do not linger until someone
 * reads them. What is kept for the life of the store, per stream ever used: its head (a 24-character epoch and a
 * sequence number) and its named cursors, a few dozen bytes, so that idle users' positions never expire.
 */
export class MemoryMessageStore implements MessageStore {
  private readonly maxEntries: number
  private readonly maxAgeMs: number
  private readonly maxBytes: number
  private readonly maxTotalBytes: number
  /** The bytes of every stream's retained entries, summed. */
  private stored = 0
  private readonly now: () => number
  private readonly streams = new Map<string, StreamState>()
  /** Streams holding entries, least recently appended first. */
  private readonly active = new Map<string, StreamState>()

  constructor(options: MemoryMessageStoreOptions = {}) {
    const { maxEntries, maxAgeMs, maxBytes } = resolveRetention(options)
    this.maxEntries = maxEntries
    this.maxAgeMs = maxAgeMs
    this.maxBytes = maxBytes
    this.maxTotalBytes = checkPositiveInteger('retention.maxTotalBytes', options.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES)
    this.now = options.now ?? Date.now
  }

  async append(stream: string, entry: StoreEntryInput): Promise<StreamPosition> {
    const now = this.now()
    this.expireIdle(now)
    return this.appendNow(stream, entry, now)
  }

  async appendMany(items: readonly StoreAppend[]): Promise<StreamPosition[]> {
    const now = this.now()
    this.expireIdle(now)
    return items.map((item) => this.appendNow(item.stream, item.entry, now))
  }

  async head(stream: string): Promise<StreamPosition> {
    this.expireIdle(this.now())
    const state = this.stateOf(stream)
    return { epoch: state.epoch, seq: state.seq }
  }

  /**
   * With `limit`, resolves with the oldest `limit` entries after `position` (the caller reads on from the
   * last one). A position ahead of the head is treated as another history (`epoch-changed`): resuming from
   * it would make the client skip messages it never got.
   */
  async readAfter(stream: string, position: StreamPosition, limit?: number): Promise<ReadResult> {
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
      throw new StoreError(`readAfter limit must be a positive integer, got ${String(limit)}`)
    }
    const now = this.now()
    this.expireIdle(now)
    const state = this.stateOf(stream)
    this.trimState(stream, state, now)
    const head = { epoch: state.epoch, seq: state.seq }
    if (position.epoch !== state.epoch || position.seq > state.seq) return { status: 'epoch-changed', head }
    if (position.seq === state.seq) return { status: 'ok', entries: [], head }
    const first = state.entries[state.start]
    if (!first || first.seq > position.seq + 1) return { status: 'trimmed', head }
    const from = state.start + (position.seq + 1 - first.seq)
    const to = limit === undefined ? state.entries.length : Math.min(state.entries.length, from + limit)
    return { status: 'ok', entries: state.entries.slice(from, to), head }
  }

  async readRetained(stream: string, after: number): Promise<RetainedEntries> {
    if (!isSequence(after)) throw new StoreError(`readRetained after must be a sequence, got ${String(after)}`)
    const now = this.now()
    this.expireIdle(now)
    const state = this.stateOf(stream)
    this.trimState(stream, state, now)
    const head = { epoch: state.epoch, seq: state.seq }
    if (after >= state.seq) return { entries: [], head, complete: true }
    const first = state.entries[state.start]
    if (!first) return { entries: [], head, complete: false }
    const from = state.start + Math.max(0, after + 1 - first.seq)
    return { entries: state.entries.slice(from), head, complete: first.seq <= after + 1 }
  }

  async getCursor(stream: string, name: string): Promise<number> {
    return this.streams.get(stream)?.cursors?.get(name) ?? 0
  }

  async setCursor(stream: string, name: string, seq: number): Promise<void> {
    if (!isSequence(seq)) throw new StoreError(`cursor must be a non-negative safe integer, got ${String(seq)}`)
    const state = this.stateOf(stream)
    if (!state.cursors) state.cursors = new Map()
    state.cursors.set(name, seq)
  }

  /** Entries the stream currently retains (for monitoring and tests). */
  size(stream: string): number {
    const state = this.streams.get(stream)
    return state ? state.entries.length - state.start : 0
  }

  /** The bytes the stream's retained entries count against `maxBytes` (for monitoring and tests). */
  bytes(stream: string): number {
    return this.streams.get(stream)?.bytes ?? 0
  }

  /** The bytes retained across every stream, which `maxTotalBytes` bounds (for monitoring and tests). */
  totalBytes(): number {
    return this.stored
  }

  /** Entries retained across every stream. */
  totalSize(): number {
    let total = 0
    for (const state of this.active.values()) total += state.entries.length - state.start
    return total
  }

  private appendNow(stream: string, input: StoreEntryInput, now: number): StreamPosition {
    const state = this.stateOf(stream)
    const seq = state.seq + 1
    const entry: StoredEntry = { frame: input.frame, seq, time: now }
    let size = utf8Length(input.frame)
    // Only what carries meaning is kept, as the Redis store does, so both read back alike.
    if (input.excluding && input.excluding.length > 0) {
      entry.excluding = input.excluding.slice()
      size += utf8Length(JSON.stringify(entry.excluding))
    }
    if (input.authenticatedOnly) entry.authenticatedOnly = true
    if (input.undelivered) entry.undelivered = true
    state.seq = seq
    state.entries.push(entry)
    state.sizes.push(size)
    state.bytes += size
    this.stored += size
    state.lastAppend = now
    this.active.delete(stream)
    this.active.set(stream, state)
    this.trimState(stream, state, now)
    this.boundTotal(now)
    return { epoch: state.epoch, seq }
  }

  private stateOf(stream: string): StreamState {
    let state = this.streams.get(stream)
    if (!state) {
      state = {
        epoch: randomId(),
        seq: 0,
        entries: [],
        sizes: [],
        start: 0,
        bytes: 0,
        lastAppend: 0,
        cursors: undefined,
      }
      this.streams.set(stream, state)
    }
    return state
  }

  /** Drops the entries beyond the stream's bounds, and at least `shed` bytes more of its oldest (`boundTotal`). */
  private trimState(stream: string, state: StreamState, now: number, shed = 0): void {
    const { entries, sizes } = state
    const end = entries.length
    const oldestAllowed = now - this.maxAgeMs
    const overCount = end - this.maxEntries
    const maxBytes = Math.min(this.maxBytes, state.bytes - shed)
    let { start, bytes } = state
    while (start < end && (start < overCount || bytes > maxBytes || entries[start]!.time < oldestAllowed)) {
      bytes -= sizes[start]!
      start++
    }
    if (start === end) {
      this.dropEntries(stream, state)
      return
    }
    this.stored -= state.bytes - bytes
    state.bytes = bytes
    if (start >= COMPACT_MIN && start * 2 >= end) {
      state.entries = entries.slice(start)
      state.sizes = sizes.slice(start)
      state.start = 0
    } else {
      state.start = start
    }
  }

  /** Past `maxTotalBytes`: the streams appended to longest ago give up their oldest entries first. */
  private boundTotal(now: number): void {
    for (const [stream, state] of this.active) {
      const excess = this.stored - this.maxTotalBytes
      if (excess <= 0) return
      this.trimState(stream, state, now, excess)
    }
  }

  private dropEntries(stream: string, state: StreamState): void {
    this.stored -= state.bytes
    state.entries = []
    state.sizes = []
    state.start = 0
    state.bytes = 0
    this.active.delete(stream)
  }

  private expireIdle(now: number): void {
    const oldestAllowed = now - this.maxAgeMs
    for (const [stream, state] of this.active) {
      if (state.lastAppend >= oldestAllowed) return
      this.dropEntries(stream, state)
    }
  }
}
