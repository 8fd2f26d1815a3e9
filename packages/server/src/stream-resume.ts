import {
  isStreamPosition,
  type Message,
  type ResumePositions,
  type ResyncReason,
  type StreamKind,
  type StreamPosition,
} from '@mesa/core'
import {
  frameToMessage,
  GLOBAL_STREAM,
  type MessageStore,
  parseFrame,
  type StoredEntry,
  userStream,
} from '@mesa/core/server'
import { ServerError } from './errors.js'

/** Name of the store cursor marking what Mesa 1.x clients of a user were last given. */
export const LEGACY_CURSOR = 'legacy'

const KINDS: readonly StreamKind[] = ['user', 'global']

export type Heads = Record<StreamKind, StreamPosition>

/** Stored entries to write to a client, per stream, in order. */
export type Replays = [StreamKind, StoredEntry[]][]

/** What a protocol 2 authentication answers and does. */
export interface ResumePlan {
  /** `x` of op 22: the heads, `recovered` and, when false, `reason`. */
  ack: { streams: Partial<Heads>; recovered: boolean; reason?: ResyncReason }
  /** Where the socket's delivery starts in each stream (none when the store could not be read). */
  positions: ResumePositions
  /** What to replay (nothing when not recovered). */
  replays: Replays
}

function streamsOf(userId: string): Record<StreamKind, string> {
  return { user: userStream(userId), global: GLOBAL_STREAM }
}

/** The heads of the user's and the global stream; undefined (reported) when the store cannot be read. */
export async function readHeads(store: MessageStore, userId: string, report: (error: Error) => void): Promise<Heads | undefined> {
  const streams = streamsOf(userId)
  try {
    const [user, global] = await Promise.all([store.head(streams.user), store.head(streams.global)])
    return { user, global }
  } catch (error) {
    report(error instanceof Error ? error : new Error(String(error)))
    return undefined
  }
}

/**
 * Protocol 2: every entry after the client's positions (or after the heads: a catch-up of what arrived since
 * they were read), all or nothing. Any requested stream that cannot be read in full makes the whole resume
 * `recovered: false` with its reason, and nothing is replayed: the client adopts the heads and resyncs.
 */
export async function planResume(
  store: MessageStore,
  userId: string,
  heads: Heads | undefined,
  resume: ResumePositions | undefined,
  report: (error: Error) => void,
): Promise<ResumePlan> {
  if (heads === undefined) {
    const ack = resume ? { streams: {}, recovered: false, reason: 'store-unavailable' as const } : { streams: {}, recovered: true }
    // The client keeps its positions (there are no heads to adopt): delivery starts from them too, so that a live
    // message of another epoch, or beyond a gap, closes the socket to resume or fills the gap, instead of reaching a
    // client that would drop it as a duplicate of what it had.
    return { ack, positions: resume ?? {}, replays: [] }
  }
  const streams = streamsOf(userId)
  let reason: ResyncReason | undefined
  const replays: Replays = []
  for (const kind of KINDS) {
    const asked = resume?.[kind]
    try {
      const result = await store.readAfter(streams[kind], asked ?? heads[kind])
      if (result.status === 'ok') replays.push([kind, result.entries])
      else if (asked) reason = result.status
    } catch (error) {
      report(error instanceof Error ? error : new Error(String(error)))
      if (asked) reason = 'store-unavailable'
    }
    if (reason !== undefined) break
  }
  const recovered = reason === undefined
  const positions: ResumePositions = {}
  for (const kind of KINDS) {
    const asked = recovered ? resume?.[kind] : undefined
    positions[kind] = asked ? { epoch: heads[kind].epoch, seq: asked.seq } : heads[kind]
  }
  const ack: ResumePlan['ack'] = { streams: heads, recovered }
  if (reason !== undefined) ack.reason = reason
  return { ack, positions, replays: recovered ? replays : [] }
}

/**
 * Mesa 1.x: what was stored while the user was offline and is still retained, after the `legacy` cursor;
 * `shouldSync: false` drops it. A 1.x client cannot be told that part of its backlog is gone: it gets what is
 * left and `report` gets a `history-lost` error.
 */
export async function readLegacyBacklog(
  store: MessageStore,
  userId: string,
  shouldSync: boolean,
  report: (error: Error) => void,
): Promise<StoredEntry[]> {
  const stream = userStream(userId)
  try {
    const head = await store.head(stream)
    if (!shouldSync) {
      await store.setCursor(stream, LEGACY_CURSOR, head.seq)
      return []
    }
    const after = Math.min(await store.getCursor(stream, LEGACY_CURSOR), head.seq)
    const { entries, head: now, complete } = await store.readRetained(stream, after)
    // Moved before the replay is written, so a second socket of the user does not replay the same entries.
    await store.setCursor(stream, LEGACY_CURSOR, entries.at(-1)?.seq ?? now.seq)
    const undelivered = entries.filter((entry) => entry.undelivered === true)
    if (!complete) {
      report(
        new ServerError(
          'history-lost',
          `stored messages of user ${userId} were trimmed before its 1.x client came back; it gets the ${undelivered.length} still stored`,
        ),
      )
    }
    return undelivered
  } catch (error) {
    report(error instanceof Error ? error : new Error(String(error)))
    return []
  }
}

/** Stored entries as the `Message`s they hold, each with its `sequence`; an entry that does not parse is left out. */
export function storedMessages(entries: readonly StoredEntry[]): Message[] {
  const messages: Message[] = []
  for (const entry of entries) {
    const parsed = parseFrame(entry.frame)
    if (parsed.ok) messages.push(frameToMessage({ ...parsed.frame, s: entry.seq }))
  }
  return messages
}

/** `x.resume` of a v2 op 2, keeping only well-formed positions. */
export function readResume(x: Record<string, unknown> | undefined): ResumePositions | undefined {
  const resume = x?.resume
  if (typeof resume !== 'object' || resume === null) return undefined
  const out: ResumePositions = {}
  for (const kind of KINDS) {
    const position = (resume as Record<string, unknown>)[kind]
    if (isStreamPosition(position)) out[kind] = { epoch: position.epoch, seq: position.seq }
  }
  return out.user || out.global ? out : undefined
}
