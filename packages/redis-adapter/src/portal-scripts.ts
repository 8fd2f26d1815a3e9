import type { PortalEvent } from '@mesa/core'
import { LuaScript } from './lua-script.js'

/** The consumer group every handling portal of a namespace joins. */
export const GROUP = 'portals'

/** The keys of the portal queue: its event stream and the count of its bytes. */
export type QueueKeys = readonly [events: string, bytes: string]

/**
 * The events' bytes (the length of each entry's payload), kept in a key beside the stream, since the stream
 * cannot say: set to 0 with the stream, added to by each push, taken from by each trim. Counted once for a
 * stream written before it was kept.
 *
 * trimHandled drops handled events: everything before the oldest unacknowledged one, or everything the group
 * has delivered when none is unacknowledged. Returns the bytes left.
 */
const TRIM_HANDLED_FUNCTION = `
local function entryBytes(entry)
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'e' then return #fields[i + 1] end
  end
  return 0
end
local function queuedBytes(key, bytesKey)
  local bytes = redis.call('GET', bytesKey)
  if bytes then return tonumber(bytes) end
  local total, start = 0, '-'
  while true do
    local batch = redis.call('XRANGE', key, start, '+', 'COUNT', 100)
    if #batch == 0 then break end
    for _, entry in ipairs(batch) do total = total + entryBytes(entry) end
    start = '(' .. batch[#batch][1]
  end
  redis.call('SET', bytesKey, total)
  return total
end
local function trimBefore(key, bytesKey, minId)
  local bytes = queuedBytes(key, bytesKey)
  local start = '-'
  while true do
    local batch = redis.call('XRANGE', key, start, '(' .. minId, 'COUNT', 100)
    if #batch == 0 then break end
    for _, entry in ipairs(batch) do bytes = bytes - entryBytes(entry) end
    start = '(' .. batch[#batch][1]
  end
  redis.call('XTRIM', key, 'MINID', minId)
  bytes = math.max(bytes, 0)
  redis.call('SET', bytesKey, bytes)
  return bytes
end
local function trimHandled(key, bytesKey, group)
  local last
  for _, info in ipairs(redis.call('XINFO', 'GROUPS', key)) do
    local name, delivered
    for i = 1, #info, 2 do
      if info[i] == 'name' then name = info[i + 1] elseif info[i] == 'last-delivered-id' then delivered = info[i + 1] end
    end
    if name == group then last = delivered end
  end
  if not last then return queuedBytes(key, bytesKey) end
  local pending = redis.call('XPENDING', key, group)
  if pending[2] then return trimBefore(key, bytesKey, pending[2]) end
  local ms, seq = string.match(last, '^(%d+)-(%d+)$')
  return trimBefore(key, bytesKey, ms .. '-' .. string.format('%d', tonumber(seq) + 1))
end
`

/**
 * KEYS: events, their bytes. ARGV: group, maxPending, maxPendingBytes, payload. The group starts at 0, so events
 * pushed before any portal runs wait for it. The bounds count unhandled events (waiting or in flight) and their
 * bytes: handled ones are trimmed first. Returns 1 when queued, 0 when full by count, -1 by bytes.
 */
export const PUSH = new LuaScript(`${TRIM_HANDLED_FUNCTION}
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
  redis.call('SET', KEYS[2], 0)
end
local max, maxBytes, size = tonumber(ARGV[2]), tonumber(ARGV[3]), #ARGV[4]
local bytes = queuedBytes(KEYS[1], KEYS[2])
if redis.call('XLEN', KEYS[1]) >= max or bytes + size > maxBytes then
  bytes = trimHandled(KEYS[1], KEYS[2], ARGV[1])
  if redis.call('XLEN', KEYS[1]) >= max then return 0 end
  if bytes + size > maxBytes then return -1 end
end
redis.call('XADD', KEYS[1], '*', 'e', ARGV[4])
redis.call('INCRBY', KEYS[2], size)
return 1
`)

/**
 * KEYS: events. ARGV: group. Events no portal has finished: those not yet delivered to the group (its `lag`;
 * counted after its last delivered id when Redis cannot tell the lag) and those delivered but not acknowledged
 * (its `pending`). Without the group, every event in the stream waits.
 */
export const PENDING = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for _, info in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, pending, lag, last
  for i = 1, #info, 2 do
    local field, value = info[i], info[i + 1]
    if field == 'name' then name = value
    elseif field == 'pending' then pending = value
    elseif field == 'lag' then lag = value
    elseif field == 'last-delivered-id' then last = value end
  end
  if name == ARGV[1] then
    if not lag then lag = #redis.call('XRANGE', KEYS[1], '(' .. last, '+') end
    return pending + lag
  end
end
return redis.call('XLEN', KEYS[1])
`)

/** KEYS: events, their bytes. ARGV: group. Creates the stream and group if Redis lost them. */
export const ENSURE_GROUP = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
  redis.call('SET', KEYS[2], 0)
  return 1
end
local ok = pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], ARGV[1], '0')
return ok and 1 or 0
`)

/**
 * KEYS: events, their bytes. ARGV: group, keep, keepBytes. Drops handled events once the stream holds more
 * than `keep` events or `keepBytes` bytes: below that, they stay for reportAllEvents readers.
 */
export const TRIM_HANDLED = new LuaScript(`${TRIM_HANDLED_FUNCTION}
if redis.call('XLEN', KEYS[1]) <= tonumber(ARGV[2]) and queuedBytes(KEYS[1], KEYS[2]) <= tonumber(ARGV[3]) then
  return 0
end
trimHandled(KEYS[1], KEYS[2], ARGV[1])
return 1
`)

/**
 * KEYS: events. ARGV: group, idle ms, and optionally one consumer name to check alone. Deletes consumers that
 * own no pending event and have not read for that long (portals that closed or died): the group would
 * otherwise list every portal that ever ran. Nothing is lost by deleting a live one: reading recreates it.
 */
export const PRUNE_CONSUMERS = new LuaScript(`
local removed = 0
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local name, pending, idle
  for i = 1, #consumer, 2 do
    if consumer[i] == 'name' then name = consumer[i + 1]
    elseif consumer[i] == 'pending' then pending = consumer[i + 1]
    elseif consumer[i] == 'idle' then idle = consumer[i + 1] end
  end
  if pending == 0 and (name == ARGV[3] or (ARGV[3] == nil and idle >= tonumber(ARGV[2]))) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    removed = removed + 1
  end
end
return removed
`)

/**
 * KEYS: events. ARGV: group, consumer, min idle ms, count, then the ids of the events the consumer's own handlers
 * still run. Claims up to `count` events unacknowledged for at least the min idle time, skipping those ids: a
 * portal whose handler hangs must not take its own event back (which would restart its idle time and keep it
 * from the other portals), whoever owns it now. XAUTOCLAIM cannot skip entries, hence XPENDING and XCLAIM, atomic
 * in the script. Returns the claimed entries.
 */
export const CLAIM_TIMED_OUT = new LuaScript(`
local group, consumer, minIdle, count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local running = {}
for i = 5, #ARGV do running[ARGV[i]] = true end
-- Of count + #running idle entries at most #running are skipped: one read finds count others if there are.
local ids = {}
for _, entry in ipairs(redis.call('XPENDING', KEYS[1], group, 'IDLE', minIdle, '-', '+', count + #ARGV - 4)) do
  if #ids < count and not running[entry[1]] then ids[#ids + 1] = entry[1] end
end
local claimed = {}
-- In batches: unpack is bounded by Lua's stack, and count (the free slots) by nothing but the options.
for first = 1, #ids, 100 do
  local batch = redis.call('XCLAIM', KEYS[1], group, consumer, minIdle, unpack(ids, first, math.min(first + 99, #ids)))
  for _, entry in ipairs(batch) do claimed[#claimed + 1] = entry end
end
return claimed
`)

/**
 * KEYS: events. ARGV: group, consumer, idle ms, then ids. Marks those of the ids the consumer still owns idle for
 * that long, so that the next claim (by any portal) takes them; one another portal claimed meanwhile stays with
 * it. Returns how many were given back.
 */
export const GIVE_BACK = new LuaScript(`
local given = 0
for i = 4, #ARGV do
  if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2]) == 1 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', ARGV[3], 'JUSTID')
    given = given + 1
  end
end
return given
`)

export type RawEntry = [id: string, fields: string[]]
export type ReadReply = [stream: string, entries: RawEntry[]][] | null

/** The event stored in an entry's `e` field; undefined when the entry is not one this package wrote. */
export function parseEvent(fields: string[]): PortalEvent | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] !== 'e') continue
    try {
      return JSON.parse(fields[i + 1]!) as PortalEvent
    } catch {
      return undefined
    }
  }
  return undefined
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref())
