import {
  AdapterError,
  ConfigError,
  type PortalConsumer,
  type PortalConsumerOptions,
  type PortalEvent,
  type PortalHandler,
  type PortalQueue,
  PortalQueueFullError,
} from '@mesa/core'
import type { RedisClient, RedisConnections } from './connection.js'
import type { RedisKeys } from './keys.js'
import { LuaScript } from './lua-script.js'

export interface RedisPortalQueueOptions {
  /** Time (ms) an event may stay unacknowledged before another portal claims it. Default 30000. */
  claimTimeoutMs?: number
  /**
   * Events the stream may hold (waiting, in flight, or handled but not yet trimmed); beyond it `push`
   * rejects with `PortalQueueFullError`. Default 10000.
   */
  maxPending?: number
  /** Events one portal handles at once. Default 64. */
  concurrency?: number
  /** How often (ms) each portal claims timed-out events and trims handled ones. Default 1000. */
  claimIntervalMs?: number
  /** How long (ms) one blocking read waits for new events before reading again. Default 2000. */
  blockMs?: number
}

const GROUP = 'portals'

/** KEYS: events. ARGV: group, maxPending, payload. The group starts at 0: events pushed before any portal wait. */
const PUSH = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM') end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('XADD', KEYS[1], '*', 'e', ARGV[3])
return 1
`)

/** KEYS: events. ARGV: group. Creates the stream and group if Redis lost them. */
const ENSURE_GROUP = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
  return 1
end
local ok = pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], ARGV[1], '0')
return ok and 1 or 0
`)

/**
 * KEYS: events. ARGV: group, keep. Drops handled events (before the oldest unacknowledged one, or everything
 * the group has delivered) once the stream holds more than \`keep\`: the rest stays for reportAllEvents readers.
 */
const TRIM_HANDLED = new LuaScript(`
if redis.call('XLEN', KEYS[1]) <= tonumber(ARGV[2]) then return 0 end
local last
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, delivered
  for i = 1, #group, 2 do
    if group[i] == 'name' then name = group[i + 1] elseif group[i] == 'last-delivered-id' then delivered = group[i + 1] end
  end
  if name == ARGV[1] then last = delivered end
end
if not last then return 0 end
local pending = redis.call('XPENDING', KEYS[1], ARGV[1])
if pending[2] then return redis.call('XTRIM', KEYS[1], 'MINID', pending[2]) end
local ms, seq = string.match(last, '^(%d+)-(%d+)$')
return redis.call('XTRIM', KEYS[1], 'MINID', ms .. '-' .. string.format('%d', tonumber(seq) + 1))
`)

/**
 * KEYS: events. ARGV: group, idle ms, and optionally one consumer name to check alone. Deletes consumers that
 * own no pending event and have not read for that long (portals that closed or died): the group would
 * otherwise list every portal that ever ran. Nothing is lost by deleting a live one: reading recreates it.
 */
const PRUNE_CONSUMERS = new LuaScript(`
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

type RawEntry = [id: string, fields: string[]]
type ReadReply = [stream: string, entries: RawEntry[]][] | null

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigError(`portal.${name} must be a positive integer, got ${String(value)}`)
  }
  return value
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function payloadOf(fields: string[]): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'e') return fields[i + 1]
  return undefined
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref())

/**
 * Portal queue on a Redis stream with one consumer group. Portals without `reportAllEvents` read it with
 * XREADGROUP (each event goes to one of them), acknowledge with XACK once their handler resolves, and
 * XAUTOCLAIM events left unacknowledged for `claimTimeoutMs` by a portal that crashed or hung. A rejected
 * event is marked claimable at once, so the next claim (within `claimIntervalMs`, by any portal) retries it.
 * `reportAllEvents` portals read the stream with their own cursor (XREAD) and observe every event pushed
 * while they consume, best effort; they take no share of the handling.
 */
export class RedisPortalQueue implements PortalQueue {
  private readonly claimTimeoutMs: number
  private readonly maxPending: number
  private readonly concurrency: number
  private readonly claimIntervalMs: number
  private readonly blockMs: number
  /** A consumer idle this long with nothing pending is a portal that is gone. */
  private readonly staleConsumerMs: number
  private readonly consumers = new Set<{ close(): Promise<void> }>()

  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeys,
    private readonly onError: (error: Error) => void,
    options: RedisPortalQueueOptions = {},
  ) {
    this.claimTimeoutMs = positiveInteger('claimTimeoutMs', options.claimTimeoutMs ?? 30_000)
    this.maxPending = positiveInteger('maxPending', options.maxPending ?? 10_000)
    this.concurrency = positiveInteger('concurrency', options.concurrency ?? 64)
    this.claimIntervalMs = positiveInteger('claimIntervalMs', options.claimIntervalMs ?? 1000)
    this.blockMs = positiveInteger('blockMs', options.blockMs ?? 2000)
    this.staleConsumerMs = Math.max(this.claimTimeoutMs * 2, this.blockMs * 10)
  }

  async push(event: PortalEvent): Promise<void> {
    const unavailable = this.connections.unavailable()
    if (unavailable) throw new AdapterError(`Redis portal queue: push failed: ${unavailable}`)
    let added: unknown
    try {
      added = await PUSH.run(
        this.connections.command,
        [this.keys.portalEvents],
        [GROUP, this.maxPending, JSON.stringify(event)],
      )
    } catch (error) {
      throw new AdapterError(`Redis portal queue: push failed: ${message(error)}`, { cause: error })
    }
    if (added === 0) throw new PortalQueueFullError(this.maxPending)
  }

  async consume(options: PortalConsumerOptions, handler: PortalHandler): Promise<PortalConsumer> {
    const { consumerId } = options
    if (typeof consumerId !== 'string' || consumerId.length === 0) {
      throw new ConfigError('consumerId must be a non-empty string')
    }
    const consumer = options.reportAllEvents
      ? await this.observe(handler)
      : await this.work(consumerId, handler)
    this.consumers.add(consumer)
    return {
      close: async () => {
        this.consumers.delete(consumer)
        await consumer.close()
      },
    }
  }

  /** Stops every consumer of this adapter. */
  async close(): Promise<void> {
    const consumers = [...this.consumers]
    this.consumers.clear()
    await Promise.all(consumers.map((consumer) => consumer.close()))
  }

  private async work(consumerId: string, handler: PortalHandler): Promise<{ close(): Promise<void> }> {
    const command = this.connections.command
    const key = this.keys.portalEvents
    try {
      await ENSURE_GROUP.run(command, [key], [GROUP])
    } catch (error) {
      throw new AdapterError(`Redis portal queue: cannot create the consumer group: ${message(error)}`, {
        cause: error,
      })
    }
    const reader = this.connections.duplicate('blocking')
    reader.on('error', () => {})
    /** Entry id -> when this portal took it; an entry past its claim timeout no longer holds a slot. */
    const inFlight = new Map<string, number>()
    let closed = false
    let failing = false
    let wake: (() => void) | undefined

    const report = (what: string, error: unknown) => {
      if (closed || failing) return
      failing = true
      this.onError(new AdapterError(`Redis portal queue (${consumerId}): ${what}: ${message(error)}`, { cause: error }))
    }
    const freeSlots = () => {
      const expired = Date.now() - this.claimTimeoutMs
      for (const [id, takenAt] of inFlight) if (takenAt <= expired) inFlight.delete(id)
      return this.concurrency - inFlight.size
    }
    const finish = (id: string) => {
      inFlight.delete(id)
      wake?.()
    }
    const handle = (id: string, fields: string[]) => {
      if (inFlight.has(id)) return
      const payload = payloadOf(fields)
      let event: PortalEvent
      try {
        event = JSON.parse(payload ?? '') as PortalEvent
      } catch (error) {
        // Retrying cannot repair it: acknowledge so it does not circulate forever.
        this.onError(new AdapterError(`Redis portal queue: dropped malformed event ${id}`, { cause: error }))
        command.xack(key, GROUP, id).catch((e: unknown) => report('XACK failed', e))
        return
      }
      inFlight.set(id, Date.now())
      const done = () => {
        finish(id)
        command.xack(key, GROUP, id).catch((e: unknown) => report('XACK failed', e))
      }
      const failed = () => {
        finish(id)
        // Making it look idle for the whole claim timeout lets the next XAUTOCLAIM (by any portal) retry it.
        command
          .xclaim(key, GROUP, consumerId, 0, id, 'IDLE', this.claimTimeoutMs, 'JUSTID')
          .catch((e: unknown) => report('XCLAIM failed', e))
      }
      try {
        Promise.resolve(handler(event)).then(done, failed)
      } catch {
        failed()
      }
    }

    const readLoop = async () => {
      while (!closed) {
        const free = freeSlots()
        if (free <= 0) {
          await new Promise<void>((resolve) => {
            wake = resolve
            setTimeout(resolve, this.claimIntervalMs).unref()
          })
          wake = undefined
          continue
        }
        try {
          const reply = (await reader.xreadgroup(
            'GROUP',
            GROUP,
            consumerId,
            'COUNT',
            free,
            'BLOCK',
            this.blockMs,
            'STREAMS',
            key,
            '>',
          )) as ReadReply
          failing = false
          for (const [, entries] of reply ?? []) for (const [id, fields] of entries) handle(id, fields)
        } catch (error) {
          if (closed) return
          if (message(error).startsWith('NOGROUP')) {
            await ENSURE_GROUP.run(command, [key], [GROUP]).catch((e: unknown) => report('cannot recreate the group', e))
          } else {
            report('read failed', error)
            await delay(Math.min(this.claimIntervalMs, 1000))
          }
        }
      }
    }

    const claim = async () => {
      const free = freeSlots()
      if (free > 0) {
        const reply = (await command.xautoclaim(key, GROUP, consumerId, this.claimTimeoutMs, '0-0', 'COUNT', free)) as [
          string,
          RawEntry[],
          string[]?,
        ]
        for (const [id, fields] of reply[1]) if (fields) handle(id, fields)
      }
      await TRIM_HANDLED.run(command, [key], [GROUP, Math.floor(this.maxPending / 2)])
      await PRUNE_CONSUMERS.run(command, [key], [GROUP, this.staleConsumerMs])
    }
    let claiming = false
    const claimTimer = setInterval(() => {
      if (claiming || closed) return
      claiming = true
      claim()
        .then(() => {
          failing = false
        })
        .catch((error: unknown) => {
          if (!message(error).startsWith('NOGROUP')) report('claim failed', error)
        })
        .finally(() => {
          claiming = false
        })
    }, this.claimIntervalMs)
    claimTimer.unref()

    const loop = readLoop()
    return {
      close: async () => {
        if (closed) return
        closed = true
        clearInterval(claimTimer)
        wake?.()
        this.connections.release(reader)
        await loop
        const unfinished = [...inFlight.keys()]
        inFlight.clear()
        if (unfinished.length === 0) {
          await PRUNE_CONSUMERS.run(command, [key], [GROUP, 0, consumerId]).catch(() => {})
          return
        }
        // Hand them over now rather than after the claim timeout.
        await command
          .xclaim(key, GROUP, consumerId, 0, ...unfinished, 'IDLE', this.claimTimeoutMs, 'JUSTID')
          .catch((error: unknown) =>
            this.onError(new AdapterError(`Redis portal queue: could not release events: ${message(error)}`, { cause: error })),
          )
      },
    }
  }

  private async observe(handler: PortalHandler): Promise<{ close(): Promise<void> }> {
    const key = this.keys.portalEvents
    let cursor: string
    try {
      const last = (await this.connections.command.xrevrange(key, '+', '-', 'COUNT', 1)) as RawEntry[]
      cursor = last[0]?.[0] ?? '0-0'
    } catch (error) {
      throw new AdapterError(`Redis portal queue: cannot start reading events: ${message(error)}`, { cause: error })
    }
    const reader: RedisClient = this.connections.duplicate('blocking')
    reader.on('error', () => {})
    let closed = false
    let failing = false
    const loop = (async () => {
      while (!closed) {
        try {
          const reply = (await reader.xread('COUNT', 100, 'BLOCK', this.blockMs, 'STREAMS', key, cursor)) as ReadReply
          failing = false
          for (const [, entries] of reply ?? []) {
            for (const [id, fields] of entries) {
              cursor = id
              let event: PortalEvent
              try {
                event = JSON.parse(payloadOf(fields) ?? '') as PortalEvent
              } catch {
                continue
              }
              try {
                Promise.resolve(handler(event)).catch(() => {})
              } catch {
                // Observers are best effort; the portal reports its own handler failures.
              }
            }
          }
        } catch (error) {
          if (closed) return
          if (!failing) {
            failing = true
            this.onError(new AdapterError(`Redis portal queue: observer read failed: ${message(error)}`, { cause: error }))
          }
          await delay(1000)
        }
      }
    })()
    return {
      close: async () => {
        if (closed) return
        closed = true
        this.connections.release(reader)
        await loop
      },
    }
  }
}
