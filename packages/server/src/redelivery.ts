import { type ResumePositions, type StreamKind, type StreamPosition, StoreError } from '@mesa/core'
import {
  channelStream,
  GLOBAL_EXTENSION,
  GLOBAL_STREAM,
  type StoredEntry,
  userStream,
  withSequence,
} from '@mesa/core/server'
import { channelExtension } from './channels/channel-frames.js'
import type { GapReader } from './gap-reader.js'
import { untilRead } from './store-retry.js'

/** What a socket's delivery writes to and reads from. */
export interface DeliveryTarget {
  readonly userId: string | undefined
  readonly closed: boolean
  write(frame: string): void
  report(error: Error): void
  /**
   * Part of the socket's history is gone (trimmed, or the stream got a new epoch), or a gap in it cannot be read
   * now: writing on would make its client skip or miss messages without knowing. The socket is closed so its
   * client reconnects and resumes: it gets what it missed, or is told it did not recover.
   */
  closeToResume(reason: string): void
  /**
   * More arrived for the socket while it was held (a replay, a gap being read) than it may queue: it is closed
   * as a slow consumer; its client reconnects and resumes from the store.
   */
  fellBehind(reason: string): void
}

/** Most frames a held socket queues, besides the byte bound (`maxHeldBytes`). */
export const MAX_HELD_FRAMES = 10_000

/** A channel's stream, named as in the store (`channelStream`): `channel:<name>`. */
export type ChannelKey = `channel:${string}`

/** A stream a socket follows: its user's, the global one, or a channel's. */
export type StreamKey = StreamKind | ChannelKey

const CHANNEL_PREFIX_LENGTH = 'channel:'.length

/** The stream key of a channel: its stream's name in the store (`channelStream`). */
export function channelKey(channel: string): ChannelKey {
  return channelStream(channel) as ChannelKey
}

function isChannelKey(key: StreamKey): key is ChannelKey {
  return key !== 'user' && key !== 'global'
}

interface Pending {
  /** null: nothing to write, only the cursor advances (a broadcast that excluded this user). */
  frame: string | null
  /** undefined: a frame outside any stream (unsynced message, protocol 1 socket). */
  key: StreamKey | undefined
  /** undefined: not numbered in its stream (a publication that was not stored): written in its turn. */
  seq: number | undefined
  /** Epoch of the stream the position belongs to, when the sender knew it. */
  epoch: string | undefined
}

/** One stream of the socket. */
interface Stream {
  /** The last position written; undefined: unknown (the store could not be read), frames pass unchecked. */
  cursor: StreamPosition | undefined
  /** Frames waiting for this stream alone (its subscription replays, or a gap in it is being read). */
  held: Pending[] | undefined
  /** Index of the next frame of `held` to write. */
  next: number
  /** Held until `releaseStream` (a subscription reading its history), rather than only while a gap is read. */
  holding: boolean
  draining: boolean
  /** `x` of its stored entries' frames for protocol 2 (`{"st":"g"}`, `{"ch":…}`); none for the user stream. */
  extension: string | undefined
}

/** The v2 frame of a stored entry: its sequence, and the stream's `x` (none for the user stream). */
function entryFrame(stream: Stream, entry: StoredEntry): string {
  return withSequence(entry.frame, entry.seq, stream.extension)
}

/** Whether a global-stream entry was meant for this user. */
function entryIsFor(entry: StoredEntry, userId: string | undefined): boolean {
  return !(userId !== undefined && entry.excluding?.includes(userId))
}

function newStream(extension: string | undefined, holding: boolean): Stream {
  return { cursor: undefined, held: holding ? [] : undefined, next: 0, holding, draining: false, extension }
}

/**
 * Ordered, gap-free delivery to one socket, in every stream it follows: its user's, the global one and each
 * channel it subscribed to. Per stream it keeps the last sequence written (the cursor): a live message at or
 * below it is skipped, one beyond `cursor + 1` first gets the gap read from the store while that stream's frames
 * wait. While the socket is held (authentication with replay) everything for it queues up; while one stream is
 * held (its subscription reads and replays the channel's history, or a gap is read) that stream's frames queue.
 * Both leave in order afterwards, within one bound per socket (count and bytes).
 *
 * The user and global streams are always delivered (without checks when their position is unknown); a channel
 * stream only between `follow` and `unfollow`: what is still queued for a channel the socket left is dropped.
 */
export class SocketDelivery {
  /** Each stream's state; only this class changes cursors (`start`, `startStream`, `forget`, writes). */
  private readonly streams = new Map<StreamKey, Stream>()
  /** Socket-wide hold: everything queues here until `release()`. */
  private pending: Pending[] | undefined
  /** Frames and bytes queued and not written yet, in `pending` and every stream's `held` (the bounds). */
  private heldFrames = 0
  private pendingBytes = 0
  /** History was lost: the socket is being closed, nothing more is written. */
  private lost = false
  private readonly sleeping = new Set<{ timer: ReturnType<typeof setTimeout>; resolve: () => void }>()

  constructor(
    private readonly target: DeliveryTarget,
    private readonly readGap: GapReader,
    /** Bytes of frames a held socket may queue (the server's `maxBufferedAmount`). */
    private readonly maxHeldBytes: number,
  ) {}

  /**
   * Starts following the user and global streams from these positions (an authentication: the heads, or where a
   * resuming client left off); a stream without a position is written without a gap check until the next
   * authentication (the store could not be read).
   */
  start(positions: ResumePositions): void {
    for (const kind of ['user', 'global'] as const) {
      const position = positions[kind]
      this.stream(kind).cursor = position && { epoch: position.epoch, seq: position.seq }
    }
  }

  /** Stops checking the user stream: the socket moved to another user, whose stream its position means nothing in. */
  forget(kind: StreamKind): void {
    const stream = this.streams.get(kind)
    if (stream !== undefined) stream.cursor = undefined
  }

  /**
   * Starts taking the channel's frames (a subscription). With `hold`, they queue until `releaseStream`: the
   * subscription first sets its position (`startStream`) and replays what the client missed.
   */
  follow(key: ChannelKey, hold: boolean): void {
    this.unfollow(key)
    this.streams.set(key, newStream(channelExtension(key.slice(CHANNEL_PREFIX_LENGTH)), hold))
  }

  /** Stops taking the channel's frames; what is queued for it is dropped. */
  unfollow(key: ChannelKey): void {
    const stream = this.streams.get(key)
    if (stream === undefined) return
    this.streams.delete(key)
    this.dropHeld(stream)
  }

  /** Sets where a followed channel stream is (undefined: unknown, frames pass unchecked). */
  startStream(key: ChannelKey, position: StreamPosition | undefined): void {
    const stream = this.streams.get(key)
    if (stream !== undefined) stream.cursor = position && { epoch: position.epoch, seq: position.seq }
  }

  /** Writes what was queued for the stream since `follow(key, true)` (filling gaps first), then goes live. */
  releaseStream(key: ChannelKey): void {
    const stream = this.streams.get(key)
    if (stream === undefined || !stream.holding) return
    stream.holding = false
    void this.drainStream(key, stream)
  }

  /** Queues everything from now on until `release()`. */
  hold(): void {
    this.pending ??= []
  }

  /** Writes what was held (filling gaps first), then goes live. */
  release(): void {
    const items = this.pending
    if (items === undefined) return
    this.pending = undefined
    for (const item of items) {
      if (this.lost || this.target.closed) return
      if (item.key === undefined) {
        this.unqueued(item)
        if (item.frame !== null) this.target.write(item.frame)
        continue
      }
      const stream = this.streams.get(item.key)
      if (stream === undefined && isChannelKey(item.key)) {
        this.unqueued(item)
      } else if (stream?.held !== undefined) {
        // That stream waits for its own reasons: the frame stays queued (and counted), in its order there.
        stream.held.push(item)
      } else {
        this.unqueued(item)
        this.live(item.key, stream, item.seq, item.frame, item.epoch)
      }
    }
  }

  /** A frame outside any stream (unsynced message, protocol 1 socket). */
  write(frame: string): void {
    if (this.lost) return
    if (this.pending) this.queue(this.pending, { frame, key: undefined, seq: undefined, epoch: undefined })
    else this.target.write(frame)
  }

  /**
   * A frame of a stream: at `seq` (of `epoch`, when known), or unnumbered (`seq` undefined: written in its turn,
   * nothing checked); `frame` null only advances the cursor. A channel's frames are dropped unless it is followed.
   */
  writeSequenced(key: StreamKey, seq: number | undefined, frame: string | null, epoch?: string): void {
    if (this.lost) return
    const stream = this.streams.get(key)
    if (stream === undefined && isChannelKey(key)) return
    // Live (the usual case) allocates nothing: a channel publication is written to every subscriber.
    if (stream?.held !== undefined) this.queue(stream.held, { frame, key, seq, epoch })
    else if (this.pending) this.queue(this.pending, { frame, key, seq, epoch })
    else this.live(key, stream, seq, frame, epoch)
  }

  /**
   * Writes replayed entries, `interval` ms apart, moving the cursor. Stops when the socket closes (or leaves the
   * channel). Resolves with how many were written (entries already delivered live, or not meant for this user,
   * are not).
   */
  async replay(key: StreamKey, entries: readonly StoredEntry[], interval: number): Promise<number> {
    const stream = isChannelKey(key) ? this.streams.get(key) : this.stream(key)
    if (stream === undefined) return 0
    let written = 0
    for (const entry of entries) {
      if (this.target.closed || this.streams.get(key) !== stream) break
      const cursor = stream.cursor
      if (cursor !== undefined && entry.seq <= cursor.seq) continue
      const wanted = key !== 'global' || entryIsFor(entry, this.target.userId)
      if (wanted && interval > 0 && written > 0) await this.sleep(interval)
      if (this.target.closed || this.streams.get(key) !== stream) break
      this.emit(key, stream, entry.seq, wanted ? entryFrame(stream, entry) : null)
      if (wanted) written++
    }
    return written
  }

  /** The socket closed: drop what is queued and wake what sleeps (paced replays, a subscription's retries) so it ends. */
  dispose(): void {
    this.dropAll()
    for (const sleeping of this.sleeping) {
      clearTimeout(sleeping.timer)
      sleeping.resolve()
    }
    this.sleeping.clear()
  }

  /** Resolves after `ms`, or at once when the socket closes (`dispose`). */
  sleep(ms: number): Promise<void> {
    if (this.target.closed) return Promise.resolve()
    return new Promise((resolve) => {
      const sleeping = {
        timer: setTimeout(() => {
          this.sleeping.delete(sleeping)
          resolve()
        }, ms),
        resolve,
      }
      this.sleeping.add(sleeping)
    })
  }

  private stream(kind: StreamKind): Stream {
    let stream = this.streams.get(kind)
    if (stream === undefined) {
      stream = newStream(kind === 'global' ? GLOBAL_EXTENSION : undefined, false)
      this.streams.set(kind, stream)
    }
    return stream
  }

  /** A frame no stream holds back: written, unless a gap comes first (then its stream waits for the gap's read). */
  private live(
    key: StreamKey,
    stream: Stream | undefined,
    seq: number | undefined,
    frame: string | null,
    epoch: string | undefined,
  ): void {
    const cursor = stream?.cursor
    if (seq !== undefined && cursor !== undefined && seq > cursor.seq + 1 && (epoch === undefined || epoch === cursor.epoch)) {
      stream!.held = []
      stream!.next = 0
      this.queue(stream!.held, { frame, key, seq, epoch })
      void this.drainStream(key, stream!)
      return
    }
    this.emit(key, stream, seq, frame, epoch)
  }

  private emit(key: StreamKey, stream: Stream | undefined, seq: number | undefined, frame: string | null, epoch?: string): void {
    const cursor = stream?.cursor
    if (seq !== undefined && cursor !== undefined) {
      if (epoch !== undefined && epoch !== cursor.epoch) {
        this.historyLost(`the ${key} stream has a new epoch`)
        return
      }
      if (seq <= cursor.seq) return
      cursor.seq = seq
    }
    if (frame !== null) this.target.write(frame)
  }

  /** Queues while held, within the bounds; beyond them the socket is given up on (`fellBehind`). */
  private queue(queue: Pending[], item: Pending): void {
    this.heldFrames++
    this.pendingBytes += item.frame === null ? 0 : item.frame.length
    if (this.heldFrames <= MAX_HELD_FRAMES && this.pendingBytes <= this.maxHeldBytes) {
      queue.push(item)
      return
    }
    const held = this.heldFrames
    this.lose()
    this.target.fellBehind(`too slow: ${held} frames arrived while catching up; reconnect to resume`)
  }

  /** A queued frame leaves the queues (written or dropped). */
  private unqueued(item: Pending): void {
    this.heldFrames--
    this.pendingBytes -= item.frame === null ? 0 : item.frame.length
  }

  private dropHeld(stream: Stream): void {
    const held = stream.held
    stream.held = undefined
    if (held === undefined) return
    for (let i = stream.next; i < held.length; i++) this.unqueued(held[i]!)
  }

  private dropAll(): void {
    this.pending = undefined
    for (const stream of this.streams.values()) stream.held = undefined
    this.heldFrames = 0
    this.pendingBytes = 0
  }

  /** Writes nothing more to this socket: it is being closed. */
  private lose(): void {
    this.lost = true
    this.dropAll()
  }

  private historyLost(why: string): void {
    this.closeToResume(`redelivery history lost (${why}); reconnect to resync`)
  }

  private closeToResume(reason: string): void {
    if (this.lost) return
    this.lose()
    this.target.closeToResume(reason)
  }

  /** Writes a stream's queue in order, reading each gap from the store first; then the stream is live again. */
  private async drainStream(key: StreamKey, stream: Stream): Promise<void> {
    if (stream.draining) return
    stream.draining = true
    try {
      while (stream.held !== undefined && stream.next < stream.held.length) {
        const item = stream.held[stream.next++]!
        this.unqueued(item)
        const cursor = stream.cursor
        const sameEpoch = item.epoch === undefined || item.epoch === cursor?.epoch
        if (item.seq !== undefined && cursor !== undefined && sameEpoch && item.seq > cursor.seq + 1) {
          await this.fill(key, stream, cursor)
        }
        if (this.target.closed || this.lost || this.streams.get(key) !== stream) return
        this.emit(key, stream, item.seq, item.frame, item.epoch)
      }
      // Unless the stream left meanwhile (then its queue is gone already), it is live again.
      stream.held = undefined
      stream.next = 0
    } finally {
      stream.draining = false
    }
  }

  /**
   * Reads and writes what the store has after the cursor (a gap in live traffic). While the store cannot be read
   * (a Redis outage, or Redis back on pub/sub before the command connection) the stream waits, what arrives
   * meanwhile held within the socket's bounds, and the read is tried again as a subscription's is (`untilRead`);
   * the first failure is reported. Writing what is live would skip the gap without the client knowing, and closing
   * every socket that hit it would send their clients reconnecting all at once, just as Redis comes back.
   */
  private async fill(key: StreamKey, stream: Stream, cursor: StreamPosition): Promise<void> {
    const userId = this.target.userId
    const name = key === 'global' ? GLOBAL_STREAM : key === 'user' ? userId && userStream(userId) : key
    if (name === undefined) return
    const read = await untilRead(() => this.readGap(name, cursor), {
      sleep: (ms) => this.sleep(ms),
      report: (error) => this.target.report(new StoreError(`cannot fill a gap in ${name}: ${String(error)}`, { cause: error })),
      wanted: () => !this.target.closed && !this.lost && this.streams.get(key) === stream,
    })
    if (read === undefined) return
    const result = read.value
    if (result.status !== 'ok') {
      this.historyLost(`${name} after ${cursor.seq}: ${result.status}`)
      return
    }
    for (const entry of result.entries) {
      if (this.target.closed || this.streams.get(key) !== stream) return
      const wanted = key !== 'global' || entryIsFor(entry, userId)
      this.emit(key, stream, entry.seq, wanted ? entryFrame(stream, entry) : null)
    }
  }
}
