import type { PortalEvent } from '@mesa/core'
import { LuaScript } from './lua-script.js'

/** The consumer group every handling portal of a namespace joins. */
export const GROUP = 'portals'

/**
 * Drops handled events: everything before the oldest unacknowledged one, or everything the group has
 * delivered when none is unacknowledged.
 */
const TRIM_HANDLED_FUNCTION = `
local function trimHandled(key, group)
  local last
  for _, info in ipairs(redis.call('XINFO', 'GROUPS', key)) do
    local name, delivered
    for i = 1, #info, 2 do
      if info[i] == 'name' then name = info[i + 1] elseif info[i] == 'last-delivered-id' then delivered = info[i + 1] end
    end
    if name == group then last = delivered end
  end
  if not last then return 0 end
  local pending = redis.call('XPENDING', key, group)
  if pending[2] then return redis.call('XTRIM', key, 'MINID', pending[2]) end
  local ms, seq = string.match(last, '^(%d+)-(%d+)$')
  return redis.call('XTRIM', key, 'MINID', ms .. '-' .. string.format('%d', tonumber(seq) + 1))
end
`

/**
 * KEYS: events. ARGV: group, maxPending, payload. The group starts at 0, so events pushed before any portal
 * runs wait for it. The bound counts unhandled events (waiting or in flight): handled ones are trimmed first.
 */
export const PUSH = new LuaScript(`${TRIM_HANDLED_FUNCTION}
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM') end
local max = tonumber(ARGV[2])
if redis.call('XLEN', KEYS[1]) >= max then
  trimHandled(KEYS[1], ARGV[1])
  if redis.call('XLEN', KEYS[1]) >= max then return 0 end
end
redis.call('XADD', KEYS[1], '*', 'e', ARGV[3])
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

/** KEYS: events. ARGV: group. Creates the stream and group if Redis lost them. */
export const ENSURE_GROUP = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
  return 1
end
local ok = pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], ARGV[1], '0')
return ok and 1 or 0
`)

/**
 * KEYS: events. ARGV: group, keep. Drops handled events once the stream holds more than `keep`: below
 * that, they stay for reportAllEvents readers.
 */
export const TRIM_HANDLED = new LuaScript(`${TRIM_HANDLED_FUNCTION}
if redis.call('XLEN', KEYS[1]) <= tonumber(ARGV[2]) then return 0 end
return trimHandled(KEYS[1], ARGV[1])
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

export type RawEntry = [id: string, fields: string[]]
export type ReadReply = [stream: string, entries: RawEntry[]][] | null

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

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
