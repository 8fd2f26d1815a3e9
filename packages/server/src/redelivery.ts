import {
  GLOBAL_EXTENSION,
  GLOBAL_STREAM,
  type ResumePositions,
  type StoredEntry,
  type StreamKind,
  type StreamPosition,
  StoreError,
  userStream,
  withSequence,
} from '@mesa/core'
import type { GapReader } from './gap-reader.js'

/** What a socket's delivery writes to and reads from. */
export interface DeliveryTarget {
  readonly userId: string | undefined
  readonly closed: boolean
  write(frame: string): void
  report(error: Error): void
  /**
   * Part of the socket's history is gone (trimmed, or the stream got a new epoch): writing on would make its
   * client skip or miss messages without knowing. The socket is closed so its client reconnects, resumes and
   * is told it did not recover.
   */
  historyLost(reason: string): void
  /**
   * More arrived for the socket while it was held (a replay, a gap being read) than it may queue: it is closed
   * as a slow consumer; its client reconnects and resumes from the store.
   */
  fellBehind(reason: string): void
}

/** Most frames a held socket queues, besides the byte bound (`maxHeldBytes`). */
export const MAX_HELD_FRAMES = 10_000

interface Pending {
  /** null: nothing to write, only the cursor advances (a broadcast that excluded this user). */
  frame: string | null
  kind: StreamKind | undefined
  seq: number
  /** Epoch of the stream the position belongs to, when the sender knew it. */
  epoch: string | undefined
}

/** The v2 frame of a stored entry: its sequence, and `x.st` for the global stream. */
export function entryFrame(kind: StreamKind, entry: StoredEntry): string {
  return withSequence(entry.frame, entry.seq, kind === 'global' ? GLOBAL_EXTENSION : undefined)
}

/** Whether a global-stream entry was meant for this user. */
export function entryIsFor(entry: StoredEntry, userId: string | undefined): boolean {
  return !(userId !== undefined && entry.excluding?.includes(userId))
}

export function streamName(kind: StreamKind, userId: string): string {
  return kind === 'global' ? GLOBAL_STREAM : userStream(userId)
}

/**
 * Ordered, gap-free delivery to one socket. Per stream it keeps the last sequence written (`cursors`): a live
 * message at or below it is skipped, one beyond `cursor + 1` first gets the gap read from the store. While
 * the socket is held (authentication with replay) or a gap is being read, everything for it queues up and
 * leaves in order afterwards.
 */
export class SocketDelivery {
  /** The last position written in each stream; only this class changes it (`start`, `forget`, writes). */
  private readonly cursors: { user?: StreamPosition; global?: StreamPosition } = {}
  private pending: Pending[] | undefined
  /** Frames and bytes in `pending` not written yet (the bounds of a held socket). */
  private heldFrames = 0
  private pendingBytes = 0
  private draining = false
  /** History was lost: the socket is being closed, nothing more is written. */
  private lost = false
  private sleeping: { timer: ReturnType<typeof setTimeout>; resolve: () => void } | undefined

  constructor(
    private readonly target: DeliveryTarget,
    private readonly readGap: GapReader,
    /** Bytes of frames a held socket may queue (the server's `maxBufferedAmount`). */
    private readonly maxHeldBytes: number,
  ) {}

  /**
   * Starts following the streams from these positions (an authentication: the heads, or where a resuming
   * client left off); a stream without a position is not followed (the store could not be read): its live
   * messages are written without a gap check until the next authentication.
   */
  start(positions: ResumePositions): void {
    this.cursors.user = positions.user && { epoch: positions.user.epoch, seq: positions.user.seq }
    this.cursors.global = positions.global && { epoch: positions.global.epoch, seq: positions.global.seq }
  }

  /** Stops following a stream: the socket moved to another user, whose stream its position means nothing in. */
  forget(kind: StreamKind): void {
    this.cursors[kind] = undefined
  }

  /** Queues everything from now on until `release()`. */
  hold(): void {
    this.pending ??= []
  }

  /** Writes what was held (filling gaps first), then goes live. */
  release(): void {
    if (this.pending === undefined) return
    void this.drain()
  }

  /** A frame outside any stream (unsynced message, protocol 1 socket). */
  write(frame: string): void {
    if (this.pending) this.queue({ frame, kind: undefined, seq: 0, epoch: undefined })
    else this.target.write(frame)
  }

  /** A frame at `seq` of a stream (of `epoch`, when known); `frame` null only advances the cursor. */
  writeSequenced(kind: StreamKind, seq: number, frame: string | null, epoch?: string): void {
    if (this.pending) {
      this.queue({ frame, kind, seq, epoch })
      return
    }
    const cursor = this.cursors[kind]
    if (cursor !== undefined && seq > cursor.seq + 1 && (epoch === undefined || epoch === cursor.epoch)) {
      this.pending = []
      this.queue({ frame, kind, seq, epoch })
      void this.drain()
      return
    }
    this.emit(kind, seq, frame, epoch)
  }

  /**
   * Writes replayed entries, `interval` ms apart, moving the cursor. Stops when the socket closes. Resolves
   * with how many were written (entries already delivered live, or not meant for this user, are not).
   */
  async replay(kind: StreamKind, entries: readonly StoredEntry[], interval: number): Promise<number> {
    let written = 0
    for (const entry of entries) {
      if (this.target.closed) break
      const cursor = this.cursors[kind]
      if (cursor !== undefined && entry.seq <= cursor.seq) continue
      const wanted = kind !== 'global' || entryIsFor(entry, this.target.userId)
      if (wanted && interval > 0 && written > 0) await this.sleep(interval)
      if (this.target.closed) break
      this.emit(kind, entry.seq, wanted ? entryFrame(kind, entry) : null)
      if (wanted) written++
    }
    return written
  }

  /** The socket closed: drop what is queued and wake a paced replay so it ends. */
  dispose(): void {
    this.pending = undefined
    this.heldFrames = 0
    this.pendingBytes = 0
    const sleeping = this.sleeping
    this.sleeping = undefined
    if (sleeping) {
      clearTimeout(sleeping.timer)
      sleeping.resolve()
    }
  }

  private emit(kind: StreamKind, seq: number, frame: string | null, epoch?: string): void {
    const cursor = this.cursors[kind]
    if (cursor !== undefined) {
      if (epoch !== undefined && epoch !== cursor.epoch) {
        this.historyLost(`the ${kind} stream has a new epoch`)
        return
      }
      if (seq <= cursor.seq) return
      cursor.seq = seq
    }
    if (frame !== null) this.target.write(frame)
  }

  /** Queues while held, within the bounds; beyond them the socket is given up on (`fellBehind`). */
  private queue(item: Pending): void {
    this.heldFrames++
    this.pendingBytes += item.frame === null ? 0 : item.frame.length
    if (this.heldFrames <= MAX_HELD_FRAMES && this.pendingBytes <= this.maxHeldBytes) {
      this.pending!.push(item)
      return
    }
    const held = this.heldFrames
    this.lose()
    this.target.fellBehind(`too slow: ${held} frames arrived while catching up; reconnect to resume`)
  }

  /** Writes nothing more to this socket: it is being closed. */
  private lose(): void {
    this.lost = true
    this.pending = undefined
    this.heldFrames = 0
    this.pendingBytes = 0
  }

  private historyLost(why: string): void {
    if (this.lost) return
    this.lose()
    this.target.historyLost(`redelivery history lost (${why}); reconnect to resync`)
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleeping = undefined
        resolve()
      }, ms)
      this.sleeping = { timer, resolve }
    })
  }

  private async drain(): Promise<void> {
    if (this.draining) return
    this.draining = true
    try {
      let index = 0
      while (this.pending !== undefined && index < this.pending.length) {
        const item = this.pending[index++]!
        this.heldFrames--
        this.pendingBytes -= item.frame === null ? 0 : item.frame.length
        if (item.kind === undefined) {
          if (item.frame !== null) this.target.write(item.frame)
          continue
        }
        const cursor = this.cursors[item.kind]
        const sameEpoch = item.epoch === undefined || item.epoch === cursor?.epoch
        if (cursor !== undefined && sameEpoch && item.seq > cursor.seq + 1) await this.fill(item.kind, cursor)
        if (this.target.closed || this.lost) return
        this.emit(item.kind, item.seq, item.frame, item.epoch)
      }
      this.pending = undefined
    } finally {
      this.draining = false
    }
  }

  /** Reads and writes what the store has after the cursor (a gap in live traffic). */
  private async fill(kind: StreamKind, cursor: StreamPosition): Promise<void> {
    const userId = this.target.userId
    if (userId === undefined) return
    const stream = streamName(kind, userId)
    try {
      const result = await this.readGap(stream, cursor)
      if (result.status !== 'ok') {
        this.historyLost(`${stream} after ${cursor.seq}: ${result.status}`)
        return
      }
      for (const entry of result.entries) {
        if (this.target.closed) return
        const wanted = kind !== 'global' || entryIsFor(entry, userId)
        this.emit(kind, entry.seq, wanted ? entryFrame(kind, entry) : null)
      }
    } catch (error) {
      // The gap may still be readable later, but this socket cannot wait: it gets what is live.
      this.target.report(new StoreError(`cannot fill a gap in ${stream}: ${String(error)}`, { cause: error }))
    }
  }
}
