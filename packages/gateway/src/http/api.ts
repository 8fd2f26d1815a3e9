import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  type Adapter,
  AdapterError,
  GLOBAL_STREAM,
  isStreamPosition,
  MesaError,
  Message,
  parseFrame,
  type StoredEntry,
  type StreamPosition,
  StoreError,
  userStream,
} from '@mesa/core'
import { DispatchError, type Dispatcher } from '@mesa/dispatcher'
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

/** The endpoints, `POST /api/<name>`; publishing to a channel joins them once channels exist. */
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
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY_LIMIT) {
      throw invalid(`"limit" must be an integer from 1 to ${MAX_HISTORY_LIMIT}`)
    }
    const stream = user === undefined ? GLOBAL_STREAM : userStream(user as string)
    if (after !== undefined) {
      const read = await adapter.store.readAfter(stream, after as StreamPosition, limit)
      return read.status === 'ok'
        ? { stream, status: 'ok', head: read.head, messages: read.entries.map(stored) }
        : { stream, status: read.status, head: read.head, messages: [] }
    }
    const retained = await adapter.store.readRetained(stream, 0)
    return { stream, status: 'ok', head: retained.head, messages: retained.entries.slice(0, limit).map(stored) }
  },
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
  // Nothing was stored or sent: the caller may retry.
  if (error instanceof StoreError) return new HttpError(503, 'store-failed', error.message)
  // With sync, the message was stored and reaches its recipients by redelivery: a retry would send it twice.
  if (error instanceof AdapterError) return new HttpError(503, 'adapter-failed', error.message)
  if (error instanceof MesaError && error.code === 'dispatcher-closed') {
    return new HttpError(503, 'shutting-down', 'the gateway is shutting down')
  }
  return undefined
}

/** Names of the endpoints, for the router (`POST /api/<name>`). */
export const API_ENDPOINTS = Object.keys(endpoints)

/**
 * Answers `POST /api/<name>` (already authenticated): reads and validates the JSON body, runs the endpoint,
 * answers JSON. Failures the caller can act on become `HttpError`s; anything else is rethrown for the log.
 */
export async function handleApi(name: string, req: IncomingMessage, res: ServerResponse, context: ApiContext): Promise<void> {
  const endpoint = endpoints[name]
  if (endpoint === undefined) throw new HttpError(404, 'not-found', `no API endpoint ${JSON.stringify(name)}`)
  if (req.method !== 'POST') throw new HttpError(405, 'method-not-allowed', 'API endpoints take POST', { allow: 'POST' })
  try {
    const body = object(await readJson(req, context.maxRequestBody))
    sendJson(res, 200, await endpoint(body, context))
  } catch (error) {
    throw apiError(error) ?? error
  }
}
