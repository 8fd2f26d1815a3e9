import { isStreamPosition, type Message, type StreamPosition } from '@mesa/core'
import { channelStream, type MessageStore } from '@mesa/core/server'
import { storedMessages } from '../stream-resume.js'

/** What `mesa.history()` reads: the last `limit` publications, or those after a position (`limit` at most). */
export interface HistoryQuery {
  /** Most publications to read: the latest ones, or the oldest after `after`. 1 to 10000; default 100 without `after`. */
  limit?: number
  /** Read what follows this position (of a subscription, or of an earlier read), all or nothing. */
  after?: StreamPosition
}

/**
 * A history read. `ok`: the publications (each `Message` with its `sequence` in the channel's stream), oldest
 * first, and the stream's head. With `after`, as a resume: `trimmed` or `epoch-changed` when not everything after
 * it is still stored (then nothing is given). The latest `limit` are what the store still retains.
 */
export type HistoryResult<M> =
  | { status: 'ok'; messages: M[]; head: StreamPosition }
  | { status: 'trimmed' | 'epoch-changed'; head: StreamPosition }

export const DEFAULT_HISTORY_LIMIT = 100
export const MAX_HISTORY_LIMIT = 10_000

/** What is wrong with a history query, or undefined. */
export function historyQueryProblem(query: unknown): string | undefined {
  if (typeof query !== 'object' || query === null) return 'history() takes { limit } or { after }'
  const { limit, after } = query as HistoryQuery
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 1 && limit <= MAX_HISTORY_LIMIT)) {
    return `history(): limit must be an integer from 1 to ${MAX_HISTORY_LIMIT}`
  }
  if (after !== undefined && !isStreamPosition(after)) return 'history(): after must be a position { epoch, seq }'
  return undefined
}

/** Reads a channel's stream; store failures reject (`StoreError`, or the store's own). */
export async function readHistory(store: MessageStore, channel: string, query: HistoryQuery): Promise<HistoryResult<Message>> {
  const stream = channelStream(channel)
  if (query.after !== undefined) {
    const result = await store.readAfter(stream, { epoch: query.after.epoch, seq: query.after.seq }, query.limit)
    if (result.status !== 'ok') return { status: result.status, head: result.head }
    return { status: 'ok', messages: storedMessages(result.entries), head: result.head }
  }
  const limit = query.limit ?? DEFAULT_HISTORY_LIMIT
  const head = await store.head(stream)
  const { entries, head: now } = await store.readRetained(stream, Math.max(0, head.seq - limit))
  return { status: 'ok', messages: storedMessages(entries.slice(-limit)), head: now }
}
