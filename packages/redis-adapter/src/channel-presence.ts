import { randomBytes } from 'node:crypto'
import type { ChannelMembers } from '@mesa/core/server'
import type { RedisConnections } from './connection.js'
import type { RedisKeys } from './keys.js'
import { LuaScript } from './lua-script.js'
import { REGISTRATION_FUNCTIONS } from './registration-lua.js'

/**
 * KEYS: the channel's users, the sockets this server registered on it. ARGV: socket/user pairs. Registers each
 * socket (once: a repeated join changes nothing); returns 1 when a user got their first socket on the channel.
 */
const JOIN = new LuaScript(`${REGISTRATION_FUNCTIONS}
return register(KEYS[1], KEYS[2], 1)
`)

/**
 * KEYS: the channel's users, the sockets this server registered on it, then those of incarnations being retired.
 * ARGV: socket, user. Removes the socket wherever this server registered it. Returns { 1 when it was the user's
 * last socket on the channel, 1 while this server's current registrations on the channel are not empty }.
 */
const LEAVE = new LuaScript(`${REGISTRATION_FUNCTIONS}
local last = 0
for i = 2, #KEYS do
  if redis.call('HGET', KEYS[i], ARGV[1]) == ARGV[2] then
    redis.call('HDEL', KEYS[i], ARGV[1])
    if decrement(KEYS[1], ARGV[2]) == 1 then last = 1 end
  end
end
return { last, redis.call('EXISTS', KEYS[2]) }
`)

/**
 * KEYS: servers, this server's liveness key, its channel index. ARGV: server id, alive ms, index entries. Indexes
 * the entries, and registers the server (as a user join does) so that survivors sweep them should it die. Returns
 * 1 when the liveness key existed.
 */
const INDEX = new LuaScript(`
local existed = redis.call('EXISTS', KEYS[2])
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
for i = 3, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
return existed
`)

/** KEYS: the channel's users, the sockets one incarnation of a server registered on it. Takes them all off. */
const SWEEP = new LuaScript(`${REGISTRATION_FUNCTIONS}
unregisterAll(KEYS[1], KEYS[2])
return 1
`)

/**
 * KEYS: a server's channel index, the orphans. ARGV: the incarnation to keep. Moves the index entries of every
 * other incarnation to the orphans; returns them.
 */
const ORPHAN = new LuaScript(`
local moved = {}
for _, entry in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if string.sub(entry, 1, #ARGV[1]) ~= ARGV[1] then
    redis.call('SADD', KEYS[2], entry)
    redis.call('SREM', KEYS[1], entry)
    moved[#moved + 1] = entry
  end
end
return moved
`)

/** Length of an incarnation id (hex digits): index entries are `<incarnation><channel>`. */
const INCARNATION_LENGTH = 16

/** Index entries swept per batch of commands. */
const SWEEP_CHUNK = 200

/** Sockets per JOIN script, and channels per INDEX script, when registering again. */
const REJOIN_CHUNK = 500

export interface ChannelPresenceOptions {
  serverId: string
  /** How long this server's liveness key lives (ms). */
  aliveMs: number
  /** An index write found this server's liveness key (`true`) or wrote it anew (`false`). */
  registered: (existed: boolean) => void
}

function newIncarnation(): string {
  return randomBytes(INCARNATION_LENGTH / 2).toString('hex')
}

/**
 * Who is subscribed to which channel, across servers, with the liveness of user presence.
 *
 * Per channel (one hash tag, so one shard of a Cluster): `users` (user -> their sockets on it) and, per server,
 * `sockets:<incarnation>` (socket -> user). Per server, beside its user presence keys: an index of the channels
 * it registered sockets on, entries `<incarnation><channel>`. When a server's liveness lapses, the survivor that
 * removes it moves its index to the `orphans` set (atomically with the liveness check) and takes each indexed
 * registration off its channel; any server sweeps orphans left by a survivor that died doing it.
 *
 * An incarnation is a random id a server registers under, replaced whenever its registrations may have been
 * lost or removed (its liveness lapsed, Redis lost data, a call failed): it registers its sockets again under a
 * new one, then retires the old. A survivor removing the registrations of a server it thinks dead thus never
 * removes what that server registered again once it came back.
 */
export class ChannelPresence {
  /** Channel -> socket id -> user id: what this server has registered (the truth Redis is repaired from). */
  private readonly local = new Map<string, Map<string, string>>()
  /** Channels whose index entry under the current incarnation is written (or being written). */
  private readonly indexed = new Set<string>()
  /** Calls under way: a new incarnation waits for those made under the old one. */
  private readonly inFlight = new Set<Promise<unknown>>()
  private incarnation = newIncarnation()
  /** Incarnations being retired: a leave removes the socket from their registrations too. */
  private retiring: string[] = []
  /** A call failed: Redis must be brought back in line with `local` (under a new incarnation). */
  private dirty = false

  private readonly serverId: string

  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeys,
    private readonly options: ChannelPresenceOptions,
  ) {
    this.serverId = options.serverId
  }

  async join(channel: string, userId: string, socketId: string): Promise<boolean> {
    let sockets = this.local.get(channel)
    if (sockets === undefined) {
      sockets = new Map()
      this.local.set(channel, sockets)
    }
    sockets.set(socketId, userId)
    const incarnation = this.incarnation
    // The index entry goes with the first registration, so a crash cannot leave a registration nobody sweeps.
    const indexing = this.indexed.has(channel) ? undefined : this.index([channel], incarnation)
    const joined = this.run(JOIN, [this.keys.channelUsers(channel), this.keys.channelSockets(channel, incarnation)], [
      socketId,
      userId,
    ])
    const [first] = await this.track(Promise.all([joined, indexing]))
    return first === 1
  }

  async leave(channel: string, userId: string, socketId: string): Promise<boolean> {
    const sockets = this.local.get(channel)
    if (sockets?.get(socketId) === userId) {
      sockets.delete(socketId)
      if (sockets.size === 0) this.local.delete(channel)
    }
    const incarnation = this.incarnation
    const keys = [incarnation, ...this.retiring].map((i) => this.keys.channelSockets(channel, i))
    const [last, registered] = (await this.track(
      this.run(LEAVE, [this.keys.channelUsers(channel), ...keys], [socketId, userId]),
    )) as [number, number]
    // Nothing of this server is left on the channel: its index entry goes (a join meanwhile writes it again after).
    if (registered === 0 && incarnation === this.incarnation && !this.local.has(channel) && this.indexed.delete(channel)) {
      await this.track(
        this.connections.call((client) =>
          client.srem(this.keys.presenceChannels(this.serverId), incarnation + channel),
        ),
      )
    }
    return last === 1
  }

  async members(channel: string): Promise<ChannelMembers> {
    const users = await this.connections.call((client) => client.hkeys(this.keys.channelUsers(channel)))
    return { users, count: users.length }
  }

  /** A call failed, or Redis may have lost this server's registrations: `renew()` is needed. */
  markDirty(): void {
    this.dirty = true
  }

  get isDirty(): boolean {
    return this.dirty
  }

  /**
   * Registers every socket again under a new incarnation, then retires the registrations of the old ones: after
   * it, Redis holds exactly `local`, whatever was lost, removed or left behind.
   */
  async renew(): Promise<void> {
    this.dirty = false
    const previous = this.incarnation
    const previouslyIndexed = [...this.indexed]
    this.incarnation = newIncarnation()
    this.indexed.clear()
    this.retiring.push(previous)
    try {
      await Promise.allSettled([...this.inFlight])
      // Sent in one go right after reading `local`: a leave after this is sent after it, on the same connection.
      const incarnation = this.incarnation
      const channels = [...this.local.keys()]
      const registrations: Promise<unknown>[] = []
      for (let i = 0; i < channels.length; i += REJOIN_CHUNK) {
        registrations.push(this.index(channels.slice(i, i + REJOIN_CHUNK), incarnation))
      }
      for (const [channel, sockets] of this.local) {
        const pairs = [...sockets].flat()
        for (let i = 0; i < pairs.length; i += REJOIN_CHUNK * 2) {
          const chunk = pairs.slice(i, i + REJOIN_CHUNK * 2)
          registrations.push(
            this.run(JOIN, [this.keys.channelUsers(channel), this.keys.channelSockets(channel, incarnation)], chunk),
          )
        }
      }
      await Promise.all(registrations)
      const orphaned = (await this.run(ORPHAN, [this.keys.presenceChannels(this.serverId), this.keys.presenceOrphans], [
        incarnation,
      ])) as string[]
      // Registrations made under the old incarnation after a survivor had moved its index away have no entry.
      const unindexed = [...previouslyIndexed, ...channels].map((channel) => previous + channel)
      await this.sweep([...new Set([...orphaned, ...unindexed])])
    } catch (error) {
      this.dirty = true
      throw error
    } finally {
      this.retiring = this.retiring.filter((i) => i !== previous)
    }
  }

  /** Takes the registrations of index entries (`<incarnation><channel>`) off their channels, then off the orphans. */
  async sweep(entries: readonly string[]): Promise<void> {
    for (let i = 0; i < entries.length; i += SWEEP_CHUNK) {
      const chunk = entries.slice(i, i + SWEEP_CHUNK)
      await Promise.all(
        chunk.map((entry) => {
          const channel = entry.slice(INCARNATION_LENGTH)
          const sockets = this.keys.channelSockets(channel, entry.slice(0, INCARNATION_LENGTH))
          return this.run(SWEEP, [this.keys.channelUsers(channel), sockets], [])
        }),
      )
      await this.connections.call((client) => client.srem(this.keys.presenceOrphans, ...chunk))
    }
  }

  /** Sweeps some orphans, left by a survivor that died while removing a dead server (one read when there are none). */
  async sweepOrphans(): Promise<void> {
    const entries = await this.connections.call((client) => client.srandmember(this.keys.presenceOrphans, SWEEP_CHUNK))
    await this.sweep(entries)
  }

  /** Forgets every registration locally (the adapter closes; `REMOVE_SERVER` moves the index to the orphans). */
  clear(): void {
    this.local.clear()
    this.indexed.clear()
  }

  private async index(channels: readonly string[], incarnation: string): Promise<void> {
    for (const channel of channels) this.indexed.add(channel)
    try {
      const keys = [
        this.keys.presenceServers,
        this.keys.presenceAlive(this.serverId),
        this.keys.presenceChannels(this.serverId),
      ]
      const entries = channels.map((channel) => incarnation + channel)
      const existed = await this.run(INDEX, keys, [this.serverId, this.options.aliveMs, ...entries])
      this.options.registered(existed === 1)
    } catch (error) {
      if (incarnation === this.incarnation) for (const channel of channels) this.indexed.delete(channel)
      throw error
    }
  }

  private track<T>(call: Promise<T>): Promise<T> {
    this.inFlight.add(call)
    const settled = () => void this.inFlight.delete(call)
    call.then(settled, settled)
    return call.catch((error: unknown) => {
      this.dirty = true
      throw error
    })
  }

  private run(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return this.connections.call((client) => script.run(client, keys, args))
  }
}
