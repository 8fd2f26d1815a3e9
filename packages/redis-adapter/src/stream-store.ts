import { StoreError, type StreamPosition } from '@mesa/core'
import {
  type MessageStore,
  type ReadResult,
  type RetainedEntries,
  type RetentionOptions,
  resolveRetention,
  type StoreAppend,
  type StoredEntry,
  type StoreEntryInput,
  isSequence,
} from '@mesa/core/server'
import type { RedisConnections } from './connection.js'
import { newEpoch } from './epoch.js'
import { storeError } from './errors.js'
import type { RedisKeys } from './keys.js'
import { LuaScript } from './lua-script.js'

/**
 * Shared Lua helpers. Entry ids are `<seq>-0`, so a position maps straight onto an id; entry field `t` (first)
 * is the append time taken from Redis's own clock, so servers with skewed clocks agree on ages.
 */
const HELPERS = `
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local NO_REPLID = string.rep('0', 40)
-- This node's replication id, and whether it was promoted from replica (Sentinel or Cluster failover) since it
-- started. Read once per call: INFO is the dearest command an append makes.
local function nodeIdentity()
  local info = redis.pcall('INFO', 'replication')
  -- A user whose ACL denies INFO gets no failover detection rather than no store.
  if type(info) ~= 'string' then info = '' end
  local master = string.match(info, 'master_replid:(%x+)') or ''
  return master, (string.match(info, 'master_replid2:(%x+)') or NO_REPLID) ~= NO_REPLID
end
-- head: HMGET of the head's 'epoch', 'seq', 'master' (further fields ignored). Returns the epoch, the seq, and
-- true when a new epoch began here.
local function checkHead(e, h, candidate, head, master, promoted)
  if head[1] and (head[3] == master or not promoted) then
    -- Same master, or one restarted from its own persistence: the history is this node's.
    if head[3] ~= master then redis.call('HSET', h, 'master', master) end
    return head[1], tonumber(head[2] or '0'), false
  end
  -- No head: this history is lost (first use, restart without persistence, eviction). Or a head written under
  -- the master this node took over from: replication is asynchronous, so what that master acknowledged last
  -- may be missing here, and continuing the sequence would give those numbers to other messages. Either way a
  -- new epoch; entries still present belong to the old one.
  redis.call('DEL', e)
  redis.call('HSET', h, 'epoch', candidate, 'seq', 0, 'master', master, 'bytes', 0)
  return candidate, 0, true
end
local function ensureHead(e, h, candidate)
  local master, promoted = nodeIdentity()
  local epoch, seq = checkHead(e, h, candidate, redis.call('HMGET', h, 'epoch', 'seq', 'master'), master, promoted)
  return epoch, seq
end
-- What an entry counts against maxBytes: its frame and its excluding list.
local function entryBytes(fields)
  local size = 0
  for i = 1, #fields, 2 do
    if fields[i] == 'f' or fields[i] == 'x' then size = size + #fields[i + 1] end
  end
  return size
end
`

/**
 * The head keeps what the bounds are checked against, so that an append within them reads no entry: 'bytes'
 * (the entries' total) and 'oldest' (the oldest entry's append time). Heads written before it kept them are
 * counted once from the entries.
 */
const APPEND_HELPERS = `
local function countedBytes(e)
  local total, start = 0, '-'
  while true do
    local batch = redis.call('XRANGE', e, start, '+', 'COUNT', 100)
    if #batch == 0 then return total end
    for _, entry in ipairs(batch) do total = total + entryBytes(entry[2]) end
    start = '(' .. batch[#batch][1]
  end
end
local function oldestTime(e)
  local first = redis.call('XRANGE', e, '-', '+', 'COUNT', 1)[1]
  return first and tonumber(first[2][2])
end
-- Drops the oldest entries while the stream holds more than maxEntries entries or maxBytes bytes, or its oldest
-- entry is older than cutoff. Entries are read one batch at a time, no larger than what the count bound alone
-- drops plus the entry after them (whose time becomes 'oldest'): a stream one entry over its count costs one
-- XRANGE of two entries. Returns the entries, bytes and oldest time left (nil once empty).
local function trim(e, count, bytes, maxEntries, maxBytes, cutoff)
  local start, last, oldest = '-', nil, nil
  while count > 0 and not oldest do
    local batch = redis.call('XRANGE', e, start, '+', 'COUNT', math.min(math.max(count - maxEntries, 0) + 1, 100))
    if #batch == 0 then break end
    for _, entry in ipairs(batch) do
      local time = tonumber(entry[2][2])
      if count <= maxEntries and bytes <= maxBytes and time >= cutoff then
        oldest = time
        break
      end
      bytes = bytes - entryBytes(entry[2])
      count = count - 1
      last = entry[1]
    end
    if last then start = '(' .. last end
  end
  if not oldest then
    redis.call('DEL', e)
    return 0, 0, nil
  end
  -- Ids are <seq>-0: everything up to and including the last dropped one.
  if last then redis.call('XTRIM', e, 'MINID', string.match(last, '^%d+') .. '-1') end
  return count, math.max(bytes, 0), oldest
end
`

/**
 * The append of APPEND and APPEND_PUBLISH. ARGV: epoch candidate, maxEntries, maxAgeMs, maxBytes, then 4 per
 * entry (frame, excluding, authenticatedOnly, undelivered; '' for none). Within the bounds an append is HMGET,
 * XLEN, XADD, HSET and PEXPIRE (and one TIME and INFO per call).
 */
const APPEND_ENTRY = `
local now = nowMs()
local maxEntries, maxAge, maxBytes = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local master, promoted = nodeIdentity()
-- Appends the i-th entry of ARGV to stream e (head h); returns its epoch and seq.
local function appendEntry(e, h, i)
  local head = redis.call('HMGET', h, 'epoch', 'seq', 'master', 'bytes', 'oldest')
  local epoch, seq, fresh = checkHead(e, h, ARGV[1], head, master, promoted)
  -- An entries key that expired or was deleted holds nothing, whatever the head says.
  local count = fresh and 0 or redis.call('XLEN', e)
  local bytes, oldest = 0, now
  if count > 0 then
    bytes = tonumber(head[4]) or countedBytes(e)
    oldest = tonumber(head[5]) or oldestTime(e) or now
  end
  seq = seq + 1
  local a = 4 + (i - 1) * 4
  local fields = { 't', string.format('%d', now), 'f', ARGV[a + 1] }
  if ARGV[a + 2] ~= '' then fields[#fields + 1] = 'x'; fields[#fields + 1] = ARGV[a + 2] end
  if ARGV[a + 3] ~= '' then fields[#fields + 1] = 'a'; fields[#fields + 1] = '1' end
  if ARGV[a + 4] ~= '' then fields[#fields + 1] = 'u'; fields[#fields + 1] = '1' end
  redis.call('XADD', e, string.format('%d-0', seq), unpack(fields))
  count, bytes = count + 1, bytes + #ARGV[a + 1] + #ARGV[a + 2]
  if count > maxEntries or bytes > maxBytes or oldest < now - maxAge then
    count, bytes, oldest = trim(e, count, bytes, maxEntries, maxBytes, now - maxAge)
  end
  redis.call('HSET', h, 'seq', seq, 'bytes', bytes, 'oldest', oldest or now)
  -- The entries key disappears once its newest entry is too old: idle streams keep only their head.
  if count > 0 then redis.call('PEXPIRE', e, maxAge) end
  return epoch, seq
end
`

/** KEYS: entries, head per stream. ARGV: as APPEND_ENTRY's. Returns epoch and seq per entry. */
const APPEND = new LuaScript(`${HELPERS}${APPEND_HELPERS}${APPEND_ENTRY}
local out = {}
for i = 1, #KEYS / 2 do
  local epoch, seq = appendEntry(KEYS[2 * i - 1], KEYS[2 * i], i)
  out[#out + 1] = epoch
  out[#out + 1] = seq
end
return out
`)

/**
 * Entries appended, each then published with its position, in order. KEYS: entries, head per entry. ARGV: as
 * APPEND_ENTRY's, then per entry its pub/sub channel and its JSON envelope without the closing brace, to which
 * the position is added. Returns epoch and seq per entry.
 */
const APPEND_PUBLISH = new LuaScript(`${HELPERS}${APPEND_HELPERS}${APPEND_ENTRY}
local n = #KEYS / 2
local out = {}
for i = 1, n do
  local epoch, seq = appendEntry(KEYS[2 * i - 1], KEYS[2 * i], i)
  local p = 4 + n * 4 + (i - 1) * 2
  redis.call('PUBLISH', ARGV[p + 1], ARGV[p + 2] .. ',"position":{"epoch":' .. cjson.encode(epoch) .. ',"seq":' .. string.format('%d', seq) .. '}}')
  out[#out + 1] = epoch
  out[#out + 1] = seq
end
return out
`)

/** KEYS: entries, head. ARGV: epoch candidate. */
const HEAD = new LuaScript(`${HELPERS}
local epoch, seq = ensureHead(KEYS[1], KEYS[2], ARGV[1])
return { epoch, seq }
`)

/** KEYS: entries, head. ARGV: epoch candidate, position epoch, position seq, limit (0: none), maxAgeMs. */
const READ_AFTER = new LuaScript(`${HELPERS}
local epoch, seq = ensureHead(KEYS[1], KEYS[2], ARGV[1])
local from = tonumber(ARGV[3])
if ARGV[2] ~= epoch or from > seq then return { 'epoch-changed', epoch, seq } end
if from == seq then return { 'ok', epoch, seq, {} } end
local firstId = string.format('%d-0', from + 1)
local entries
if ARGV[4] ~= '0' then
  entries = redis.call('XRANGE', KEYS[1], firstId, '+', 'COUNT', ARGV[4])
else
  entries = redis.call('XRANGE', KEYS[1], firstId, '+')
end
if #entries == 0 or entries[1][1] ~= firstId or tonumber(entries[1][2][2]) < nowMs() - tonumber(ARGV[5]) then
  return { 'trimmed', epoch, seq }
end
return { 'ok', epoch, seq, entries }
`)

/**
 * KEYS: entries, head. ARGV: epoch candidate, after, maxAgeMs. Entries past maxAge count as trimmed, as in
 * READ_AFTER. Returns epoch, seq, complete (1/0), entries.
 */
const READ_RETAINED = new LuaScript(`${HELPERS}
local epoch, seq = ensureHead(KEYS[1], KEYS[2], ARGV[1])
local after = tonumber(ARGV[2])
if after >= seq then return { epoch, seq, 1, {} } end
local firstId = string.format('%d-0', after + 1)
local entries = redis.call('XRANGE', KEYS[1], firstId, '+')
local oldest = nowMs() - tonumber(ARGV[3])
local skip = 0
while skip < #entries and tonumber(entries[skip + 1][2][2]) < oldest do skip = skip + 1 end
local kept = {}
for i = skip + 1, #entries do kept[#kept + 1] = entries[i] end
local complete = 0
if skip == 0 and #entries > 0 and entries[1][1] == firstId then complete = 1 end
return { epoch, seq, complete, kept }
`)

/**
 * Named cursors are stored as `<epoch>:<seq>`: a cursor of an earlier epoch reads as 0, since the new epoch
 * numbers its entries from 1 again. KEYS: head, cursors. ARGV: name (and seq, to set). A value without an
 * epoch (written before cursors had one) reads as it is.
 */
const GET_CURSOR = new LuaScript(`
local value = redis.call('HGET', KEYS[2], ARGV[1])
if not value then return 0 end
local epoch, seq = string.match(value, '^(.*):(%d+)$')
if not epoch then return tonumber(value) end
if epoch ~= (redis.call('HGET', KEYS[1], 'epoch') or '') then return 0 end
return tonumber(seq)
`)

const SET_CURSOR = new LuaScript(`
redis.call('HSET', KEYS[2], ARGV[1], (redis.call('HGET', KEYS[1], 'epoch') or '') .. ':' .. ARGV[2])
return 1
`)

/** Entries per script call: one call runs atomically in Redis, so huge fan-outs are split to keep it responsive. */
export const APPEND_CHUNK = 256

type RawEntry = [id: string, fields: string[]]

function decodeEntry([id, fields]: RawEntry): StoredEntry {
  const entry: StoredEntry = { seq: Number.parseInt(id, 10), time: 0, frame: '' }
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1]!
    switch (fields[i]) {
      case 't':
        entry.time = Number(value)
        break
      case 'f':
        entry.frame = value
        break
      case 'x':
        entry.excluding = JSON.parse(value) as string[]
        break
      case 'a':
        entry.authenticatedOnly = true
        break
      case 'u':
        entry.undelivered = true
        break
    }
  }
  return entry
}

function position(epoch: unknown, seq: unknown): StreamPosition {
  return { epoch: String(epoch), seq: Number(seq) }
}

/** The positions of an append script's reply: epoch and seq per entry. */
function positions(reply: readonly (string | number)[]): StreamPosition[] {
  const result: StreamPosition[] = []
  for (let i = 0; i < reply.length; i += 2) result.push(position(reply[i], reply[i + 1]))
  return result
}

/** A channel publication to store and publish (`appendAndPublish`). */
export interface StoredPublication extends StoreAppend {
  /** The pub/sub channel it is published on. */
  channel: string
  /** Its envelope as JSON (an object), without the position, which the script adds. */
  payload: string
}

/**
 * Redelivery history on Redis Streams, one stream per Mesa stream. Appends are atomic Lua scripts that bump
 * the head's sequence, XADD, and drop the oldest entries (XTRIM MINID) until the stream holds at most
 * `maxEntries` entries and `maxBytes` bytes (a total kept in the head) and none older than `maxAgeMs`. The
 * head hash has no expiry: it survives trimming.
 * A new epoch is created, so that clients are told `epoch-changed`, when the head is gone (Redis restarted
 * without persistence) and when it was written under the master this node took over from in a failover
 * (the head records the master's replication id). Kept for idle streams: the head and named cursors.
 */
export class RedisStreamStore implements MessageStore {
  private readonly maxEntries: number
  private readonly maxAgeMs: number
  private readonly maxBytes: number
  private readonly isCluster: boolean

  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeys,
    retention?: RetentionOptions,
  ) {
    this.isCluster = connections.isCluster
    const resolved = resolveRetention(retention)
    this.maxEntries = resolved.maxEntries
    this.maxAgeMs = resolved.maxAgeMs
    this.maxBytes = resolved.maxBytes
  }

  async append(stream: string, entry: StoreEntryInput): Promise<StreamPosition> {
    const [result] = await this.wrap('append', () => this.appendChunk([{ stream, entry }]))
    return result!
  }

  /**
   * Standalone: one script call per 256 entries, all sent at once (one round trip). Cluster: streams live
   * on different slots, so each entry is its own call; ioredis writes them all before any reply arrives.
   */
  async appendMany(items: readonly StoreAppend[]): Promise<StreamPosition[]> {
    if (items.length === 0) return []
    return this.wrap('appendMany', async () => {
      const chunks: StoreAppend[][] = []
      const size = this.isCluster ? 1 : APPEND_CHUNK
      for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size))
      const results = await Promise.all(chunks.map((chunk) => this.appendChunk(chunk)))
      return results.flat()
    })
  }

  async head(stream: string): Promise<StreamPosition> {
    return this.wrap('head', async () => {
      const [epoch, seq] = (await this.run(HEAD, this.streamKeys(stream), [newEpoch()])) as [string, number]
      return position(epoch, seq)
    })
  }

  /** Same contract as the memory store: a position ahead of the head reads as `epoch-changed`. */
  async readAfter(stream: string, from: StreamPosition, limit?: number): Promise<ReadResult> {
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
      throw new StoreError(`readAfter limit must be a positive integer, got ${String(limit)}`)
    }
    if (!isSequence(from.seq)) throw new StoreError(`readAfter position seq must be a sequence, got ${from.seq}`)
    return this.wrap('readAfter', async () => {
      const reply = (await this.run(READ_AFTER, this.streamKeys(stream), [
        newEpoch(),
        from.epoch,
        from.seq,
        limit ?? 0,
        this.maxAgeMs,
      ])) as [ReadResult['status'], string, number, RawEntry[]?]
      const head = position(reply[1], reply[2])
      if (reply[0] !== 'ok') return { status: reply[0], head }
      return { status: 'ok', entries: (reply[3] ?? []).map(decodeEntry), head }
    })
  }

  async readRetained(stream: string, after: number): Promise<RetainedEntries> {
    if (!isSequence(after)) throw new StoreError(`readRetained after must be a sequence, got ${String(after)}`)
    return this.wrap('readRetained', async () => {
      const [epoch, seq, complete, entries] = (await this.run(READ_RETAINED, this.streamKeys(stream), [
        newEpoch(),
        after,
        this.maxAgeMs,
      ])) as [string, number, number, RawEntry[]]
      return { entries: entries.map(decodeEntry), head: position(epoch, seq), complete: complete === 1 }
    })
  }

  async getCursor(stream: string, name: string): Promise<number> {
    const value = await this.wrap('getCursor', () => this.run(GET_CURSOR, this.cursorKeys(stream), [name]))
    return Number(value)
  }

  async setCursor(stream: string, name: string, seq: number): Promise<void> {
    if (!isSequence(seq)) throw new StoreError(`cursor must be a non-negative safe integer, got ${String(seq)}`)
    await this.wrap('setCursor', () => this.run(SET_CURSOR, this.cursorKeys(stream), [name, seq]))
  }

  /** Entries the stream currently retains (for monitoring and tests). */
  async size(stream: string): Promise<number> {
    return this.wrap('size', () => this.connections.call((client) => client.xlen(this.keys.streamEntries(stream))))
  }

  /** The bytes the stream's entries count against `maxBytes` (for monitoring and tests). */
  async bytes(stream: string): Promise<number> {
    return this.wrap('bytes', async () => {
      const exists = await this.connections.call((client) => client.exists(this.keys.streamEntries(stream)))
      if (exists === 0) return 0
      return Number((await this.connections.call((client) => client.hget(this.keys.streamHead(stream), 'bytes'))) ?? 0)
    })
  }

  /**
   * Appends each entry to its stream and publishes on its `channel` its JSON envelope `payload` (a JSON object)
   * with the position it got, in order, in one script call (a caller sends at most `APPEND_CHUNK` at once: one
   * call runs atomically in Redis). Rejects with `StoreError`: then none was stored or published, but after a
   * timeout or a failure inside the script (a key of another type), when some may have been. Standalone and
   * Sentinel only: on a Cluster a stream and its pub/sub channel hash to different slots.
   */
  async appendAndPublish(items: readonly StoredPublication[]): Promise<StreamPosition[]> {
    return this.wrap('appendAndPublish', async () => {
      const keys = items.flatMap(({ stream }) => this.streamKeys(stream))
      const args = this.appendArgs(items)
      for (const { channel, payload } of items) args.push(channel, payload.slice(0, -1))
      return positions((await this.run(APPEND_PUBLISH, keys, args)) as (string | number)[])
    })
  }

  private async appendChunk(items: readonly StoreAppend[]): Promise<StreamPosition[]> {
    const keys = items.flatMap(({ stream }) => this.streamKeys(stream))
    return positions((await this.run(APPEND, keys, this.appendArgs(items))) as (string | number)[])
  }

  /** APPEND_ENTRY's ARGV for these entries. */
  private appendArgs(items: readonly StoreAppend[]): (string | number)[] {
    const args: (string | number)[] = [newEpoch(), this.maxEntries, this.maxAgeMs, this.maxBytes]
    for (const { entry } of items) {
      args.push(
        entry.frame,
        entry.excluding && entry.excluding.length > 0 ? JSON.stringify(entry.excluding) : '',
        entry.authenticatedOnly ? '1' : '',
        entry.undelivered ? '1' : '',
      )
    }
    return args
  }

  private cursorKeys(stream: string): [string, string] {
    return [this.keys.streamHead(stream), this.keys.streamCursors(stream)]
  }

  private streamKeys(stream: string): [string, string] {
    return [this.keys.streamEntries(stream), this.keys.streamHead(stream)]
  }

  private run(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return this.connections.call((client) => script.run(client, keys, args))
  }

  private async wrap<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      throw storeError(`Redis message store: ${operation} failed`, error)
    }
  }
}
