import type { IncomingMessage, ServerResponse } from 'node:http'
import { AdapterError, isStreamPosition, MesaError, Message, type StreamPosition, StoreError } from '@mesa/core'
import {
  type Adapter,
  channelNameProblem,
  channelStream,
  GLOBAL_STREAM,
  parseFrame,
  type StoredEntry,
  userStream,
} from '@mesa/core/server'
import { ChannelLimitError, DispatchError, type Dispatcher } from '@mesa/dispatcher'
import { readJson } from './read-json.js'
import { HttpError, sendJson } from './respond.js'

/** Most entries one history query returns; the caller pages on with `after`. */
export const MAX_HISTORY_LIMIT = 1000
const DEFAULT_HISTORY_LIMIT = 100

/** What the API works with: the gateway's dispatcher (sends, disconnects) and adapter (presence, history). */
export interface ApiContext {
  dispatcher: Dispatcher
  adapter: Adapter
  maxRequestBody: number
}

type Body = Record<string, unknown>
type Endpoint = (body: Body, context: ApiContext) => Promise<unknown>

const invalid = (message: string) => new HttpError(400, 'invalid-request', message)

function object(value: unknown): Body {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('the body must be a JSON object')
  return value as Body
}

function userIds(body: Body, field: string, required: boolean): string[] | undefined {
  const value = body[field]
  if (value === undefined && !required) return undefined
  if (!Array.isArray(value) || value.some((id) => typeof id !== 'string' || id.length === 0)) {
    throw invalid(`"${field}" must be an array of user ids (non-empty strings)`)
  }
  return value as string[]
}

/** The message of a send or broadcast: `type`, `data` (an object, default `{}`) and `sync` (default true). */
function message(body: Body): Message {
  const { type, data = {}, sync = true } = body
  if (typeof type !== 'string' || type.length === 0 || type.length > 256) {
    throw invalid('"type" must be a message type name (a string of 1-256 characters)')
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw invalid('"data" must be a JSON object')
  if (typeof sync !== 'boolean') throw invalid('"sync" must be true or false')
  return new Message(0, data as Record<string, unknown>, type, { sync })
}

function historyLimit(limit: unknown): number {
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY_LIMIT) {
    throw invalid(`"limit" must be an integer from 1 to ${MAX_HISTORY_LIMIT}`)
  }
  return limit
}

/**
 * Up to `limit` stored messages of a stream, oldest first: after `after` (all or nothing: `status` says when that
 * history is gone), else the oldest retained (`from: 'oldest'`) or the newest (`'newest'`, for late joiners).
 */
async function readHistory(
  adapter: Adapter,
  stream: string,
  after: StreamPosition | undefined,
  limit: number,
  from: 'oldest' | 'newest',
): Promise<{ status: string; head: StreamPosition; messages: ReturnType<typeof stored>[] }> {
  if (after !== undefined) {
    const read = await adapter.store.readAfter(stream, after, limit)
    return read.status === 'ok'
      ? { status: 'ok', head: read.head, messages: read.entries.map(stored) }
      : { status: read.status, head: read.head, messages: [] }
  }
  // The newest: read from `limit` before the head (more may arrive meanwhile: keep the last `limit`).
  const start = from === 'newest' ? Math.max(0, (await adapter.store.head(stream)).seq - limit) : 0
  const retained = await adapter.store.readRetained(stream, start)
  const entries = from === 'newest' ? retained.entries.slice(-limit) : retained.entries.slice(0, limit)
  return { status: 'ok', head: retained.head, messages: entries.map(stored) }
}

/** The endpoints, `POST /api/<name>`. */
const endpoints: Record<string, Endpoint> = {
  /** `recipients` get the message on every socket they have, on every gateway of the namespace. */
  async send(body, { dispatcher }) {
    await dispatcher.dispatch(message(body), userIds(body, 'recipients', true), userIds(body, 'excluding', false))
    return { ok: true }
  },

  /** Every authenticated user gets it (the Dispatcher's `['*']`), but those in `excluding`. */
  async broadcast(body, { dispatcher }) {
    await dispatcher.dispatch(message(body), ['*'], userIds(body, 'excluding', false))
    return { ok: true }
  },

  /**
   * Every socket subscribed to `channel`, on every gateway, gets the message; with sync it is stored once in the
   * channel's stream first (history, and resuming subscribers).
   */
  async publish(body, { dispatcher }) {
    await dispatcher.publish(body.channel as string, message(body))
    return { ok: true }
  },

  /** Subscribes every socket of `users` to `channel`, and those they open later (the Dispatcher's `subscribe`). */
  async subscribe(body, { dispatcher }) {
    await dispatcher.subscribe(userIds(body, 'users', true)!, body.channel as string)
    return { ok: true }
  },

  /** Ends those subscriptions, on every gateway (the Dispatcher's `unsubscribe`). */
  async unsubscribe(body, { dispatcher }) {
    await dispatcher.unsubscribe(userIds(body, 'users', true)!, body.channel as string)
    return { ok: true }
  },

  /** Closes every socket of `users` (default close code 4004: Mesa clients then do not reconnect). */
  async disconnect(body, { dispatcher }) {
    const { code, reason } = body
    if (code !== undefined && typeof code !== 'number') throw invalid('"code" must be a close code (a number)')
    if (reason !== undefined && typeof reason !== 'string') throw invalid('"reason" must be a string')
    await dispatcher.disconnect(userIds(body, 'users', true)!, {
      ...(code === undefined ? {} : { code }),
      ...(reason === undefined ? {} : { reason }),
    })
    return { ok: true }
  },

  /**
   * Whether each of `users` is online (on any gateway of the namespace), and how many users are (`count`, left
   * out for an adapter that does not count: `onlineCount` is optional).
   */
  async presence(body, { adapter }) {
    const users = userIds(body, 'users', false) ?? []
    const [flags, count] = await Promise.all([
      users.length === 0 ? Promise.resolve([]) : adapter.presence.areOnline(users),
      adapter.presence.onlineCount?.(),
    ])
    const online = Object.fromEntries(users.map((id, i) => [id, flags[i] ?? false]))
    return count === undefined ? { online } : { online, count }
  },

  /**
   * Stored messages of a user's stream (`user`) or of the global one (broadcasts), oldest first: after the
   * position `after` (all or nothing: `status` says when that history is gone), else what the stream retains.
   */
  async history(body, { adapter }) {
    const { user, after, limit = DEFAULT_HISTORY_LIMIT } = body
    if (user !== undefined && (typeof user !== 'string' || user.length === 0)) throw invalid('"user" must be a user id')
    if (after !== undefined && !isStreamPosition(after)) throw invalid('"after" must be a position: { "epoch": string, "seq": integer >= 0 }')
    const stream = user === undefined ? GLOBAL_STREAM : userStream(user as string)
    return { stream, ...(await readHistory(adapter, stream, after, historyLimit(limit), 'oldest')) }
  },
}

type ChannelView = (channel: string, query: URLSearchParams, context: ApiContext) => Promise<unknown>

/** `GET /api/channels/<name>/<view>`. */
const channelViews: Record<string, ChannelView> = {
  /** Who is subscribed to the channel, across every gateway of the namespace (distinct user ids). */
  async presence(channel, _query, { adapter }) {
    const { users, count } = await adapter.presence.channelMembers(channel)
    return { channel, users, count }
  },

  /**
   * The channel's stored publications, oldest first: the newest `limit` (default 100), or with
   * `after=<epoch>:<seq>` the `limit` oldest after that position (all or nothing, as `history`).
   */
  async history(channel, query, { adapter }) {
    const limit = query.get('limit')
    const after = query.get('after')
    return {
      channel,
      ...(await readHistory(
        adapter,
        channelStream(channel),
        after === null ? undefined : position(after),
        historyLimit(limit === null ? DEFAULT_HISTORY_LIMIT : /^\d+$/.test(limit) ? Number(limit) : limit),
        'newest',
      )),
    }
  },
}

/** A position in a query string: `<epoch>:<seq>` (the epoch is what precedes the last colon). */
function position(value: string): StreamPosition {
  const match = /^(.+):(\d{1,16})$/.exec(value)
  const after = match === null ? undefined : { epoch: match[1], seq: Number(match[2]) }
  if (!isStreamPosition(after)) throw invalid('"after" must be a position: <epoch>:<seq>')
  return after
}

/** `record[key]` when it is the record's own (a name such as `constructor` finds nothing). */
function own<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined
}

/** A stored entry as the API shows it: its position and time, and the message's type and data. */
function stored(entry: StoredEntry): { seq: number; time: number; type: string | undefined; data: unknown } {
  const parsed = parseFrame(entry.frame)
  return parsed.ok
    ? { seq: entry.seq, time: entry.time, type: parsed.frame.t, data: parsed.frame.d }
    : { seq: entry.seq, time: entry.time, type: undefined, data: undefined }
}

/** The API's answer to a failure: the Dispatcher's typed errors keep their code. */
function apiError(error: unknown): HttpError | undefined {
  if (error instanceof HttpError) return error
  if (error instanceof DispatchError) return new HttpError(400, error.code, error.message)
  // The others were subscribed; these users hold the most channels the gateway keeps per user.
  if (error instanceof ChannelLimitError) return new HttpError(409, error.code, error.message, {}, { users: error.userIds })
  // Nothing was stored or sent: the caller may retry.
  if (error instanceof StoreError) return new HttpError(503, 'store-failed', error.message)
  // With sync, the message was stored and reaches its recipients by redelivery: a retry would send it twice.
  if (error instanceof AdapterError) return new HttpError(503, 'adapter-failed', error.message)
  if (error instanceof MesaError && error.code === 'dispatcher-closed') {
    return new HttpError(503, 'shutting-down', 'the gateway is shutting down')
  }
  return undefined
}

/**
 * Answers `/api/<path>` (already authenticated): `POST /api/<name>` reads and validates the JSON body, runs the
 * endpoint, answers JSON; `GET /api/channels/<name>/<view>` (the name URL-encoded where it has to be) answers a
 * channel's presence or history. Failures the caller can act on become `HttpError`s; anything else is rethrown
 * for the log.
 */
export async function handleApi(path: string, req: IncomingMessage, res: ServerResponse, context: ApiContext): Promise<void> {
  try {
    if (path.startsWith('channels/')) return sendJson(res, 200, await channelView(path, req, context))
    const endpoint = own(endpoints, path)
    if (endpoint === undefined) throw new HttpError(404, 'not-found', `no API endpoint ${JSON.stringify(path)}`)
    onlyMethod(req, 'POST')
    const body = object(await readJson(req, context.maxRequestBody))
    sendJson(res, 200, await endpoint(body, context))
  } catch (error) {
    throw apiError(error) ?? error
  }
}

/** `channels/<name>/<view>`: the view is after the last slash, since a channel name may hold slashes. */
async function channelView(path: string, req: IncomingMessage, context: ApiContext): Promise<unknown> {
  const slash = path.lastIndexOf('/')
  const view = own(channelViews, path.slice(slash + 1))
  if (view === undefined || slash <= 'channels/'.length) {
    throw new HttpError(404, 'not-found', 'channel endpoints are /api/channels/<name>/presence and /api/channels/<name>/history')
  }
  onlyMethod(req, 'GET')
  let channel: string
  try {
    channel = decodeURIComponent(path.slice('channels/'.length, slash))
  } catch {
    throw new HttpError(400, 'invalid-channel', 'the channel name is not valid URL encoding')
  }
  const problem = channelNameProblem(channel)
  if (problem !== undefined) throw new HttpError(400, 'invalid-channel', problem)
  return view(channel, new URL(req.url ?? '', 'http://gateway').searchParams, context)
}

function onlyMethod(req: IncomingMessage, method: 'GET' | 'POST'): void {
  if (req.method !== method) throw new HttpError(405, 'method-not-allowed', `this endpoint takes ${method}`, { allow: method })
}
