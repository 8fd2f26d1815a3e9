import { randomUUID } from 'node:crypto'
import type { RedisConnections } from './connection.js'
import type { RedisKeys } from './keys.js'
import { LuaScript } from './lua-script.js'

/**
 * Shared by every membership script. KEYS: members (sorted set portal id -> expiry, ms of Redis's clock),
 * version (hash { epoch, version }). ARGV: channel, 'PUBLISH' or 'SPUBLISH', the epoch to start when there is
 * none. Each change bumps the version and is announced as `<kind> <epoch> <version> <portal id>`; the epoch
 * is new whenever Redis lost the hash, so watchers can tell a lost history from a missed message. Scores use
 * Redis's clock (TIME), so the clocks of the portal processes do not matter.
 */
const PRELUDE = `
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function epoch()
  redis.call('HSETNX', KEYS[2], 'epoch', ARGV[3])
  return redis.call('HGET', KEYS[2], 'epoch')
end
local function announce(kind, id)
  local e = epoch()
  local v = redis.call('HINCRBY', KEYS[2], 'version', 1)
  redis.call(ARGV[2], ARGV[1], kind .. ' ' .. e .. ' ' .. v .. ' ' .. id)
end
local function sweep(t)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', t)) do
    redis.call('ZREM', KEYS[1], id)
    announce('leave', id)
  end
end
`

/** ARGV 4: alive ms; ARGV 5…: portal ids. Registers or refreshes them; returns how many were new. */
const REGISTER = new LuaScript(`${PRELUDE}
local t = now()
sweep(t)
local joined = 0
for i = 5, #ARGV do
  if redis.call('ZADD', KEYS[1], t + tonumber(ARGV[4]), ARGV[i]) == 1 then
    announce('join', ARGV[i])
    joined = joined + 1
  end
end
return joined
`)

/** ARGV 4: portal id. */
const UNREGISTER = new LuaScript(`${PRELUDE}
sweep(now())
if redis.call('ZREM', KEYS[1], ARGV[4]) == 0 then return 0 end
announce('leave', ARGV[4])
return 1
`)

/** Removes expired members, then returns { epoch, version, members } as of that moment. */
const SNAPSHOT = new LuaScript(`${PRELUDE}
sweep(now())
local e = epoch()
local v = tonumber(redis.call('HGET', KEYS[2], 'version') or '0')
return { e, v, redis.call('ZRANGE', KEYS[1], 0, -1) }
`)

/** One membership change as published. */
export interface Announcement {
  kind: 'join' | 'leave'
  epoch: string
  version: number
  portalId: string
}

export interface MembershipSnapshot {
  epoch: string
  version: number
  members: string[]
}

export function parseAnnouncement(message: string): Announcement | undefined {
  const match = /^(join|leave) (\S+) (\d+) ([\s\S]+)$/.exec(message)
  if (!match) return undefined
  return { kind: match[1] as Announcement['kind'], epoch: match[2]!, version: Number(match[3]), portalId: match[4]! }
}

/**
 * The portals consuming one namespace's queue, in Redis: a sorted set of portal ids scored by when their
 * liveness lapses, a version hash and a channel announcing each change, all in the event stream's hash slot
 * (see `createKeys`).
 */
export class MembershipStore {
  readonly channel: string
  private readonly keys: string[]
  private readonly publish: string

  constructor(
    private readonly connections: RedisConnections,
    keys: RedisKeys,
  ) {
    this.keys = [keys.portalMembers, keys.portalMembersVersion]
    this.channel = keys.portalMembershipChannel
    this.publish = connections.isCluster ? 'SPUBLISH' : 'PUBLISH'
  }

  /** Registers the portals (or refreshes them) for `aliveMs`; removes and announces those that lapsed. */
  async register(portalIds: readonly string[], aliveMs: number): Promise<void> {
    await this.run(REGISTER, [aliveMs, ...portalIds])
  }

  async unregister(portalId: string): Promise<void> {
    await this.run(UNREGISTER, [portalId])
  }

  async snapshot(): Promise<MembershipSnapshot> {
    const [epoch, version, members] = (await this.run(SNAPSHOT, [])) as [string, number, string[]]
    return { epoch, version, members }
  }

  /** ARGV: the channel, how to publish on it, an epoch to start with, then `args`. */
  private run(script: LuaScript, args: readonly (string | number)[]): Promise<unknown> {
    return this.connections.call((client) =>
      script.run(client, this.keys, [this.channel, this.publish, randomUUID(), ...args]),
    )
  }
}
