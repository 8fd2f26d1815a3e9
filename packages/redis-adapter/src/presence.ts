import type { AdapterError } from '@mesa/core'
import type { ChannelMembers, Presence } from '@mesa/core/server'
import { ChannelPresence } from './channel-presence.js'
import type { RedisConnections } from './connection.js'
import { adapterError } from './errors.js'
import type { RedisKeys } from './keys.js'
import { LuaScript } from './lua-script.js'
import { REGISTRATION_FUNCTIONS } from './registration-lua.js'

/**
 * KEYS: servers, users, this server's sockets, its liveness key. ARGV: server id, alive ms, then socket/user pairs.
 * Returns 1 when the liveness key existed (0: it is new, or it lapsed or was lost, with what it kept alive).
 */
const JOIN = new LuaScript(`${REGISTRATION_FUNCTIONS}
local existed = redis.call('EXISTS', KEYS[4])
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SET', KEYS[4], '1', 'PX', ARGV[2])
register(KEYS[2], KEYS[3], 3)
return existed
`)

/** KEYS: users, this server's sockets. ARGV: socket id. */
const LEAVE = new LuaScript(`${REGISTRATION_FUNCTIONS}
local user = redis.call('HGET', KEYS[2], ARGV[1])
if not user then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
decrement(KEYS[1], user)
return 1
`)

/**
 * KEYS: servers, users, the server's sockets, its liveness key, its channel index, the channel orphans. ARGV: server
 * id, '1' to remove even if alive. Removes every socket a server registered, unless it came back to life
 * meanwhile, and moves its channel index to the orphans; returns the entries moved (for the caller to sweep).
 */
const REMOVE_SERVER = new LuaScript(`${REGISTRATION_FUNCTIONS}
if ARGV[2] ~= '1' and redis.call('EXISTS', KEYS[4]) == 1 then return {} end
unregisterAll(KEYS[2], KEYS[3])
redis.call('DEL', KEYS[4])
redis.call('SREM', KEYS[1], ARGV[1])
local channels = redis.call('SMEMBERS', KEYS[5])
redis.call('SUNIONSTORE', KEYS[6], KEYS[6], KEYS[5])
redis.call('DEL', KEYS[5])
return channels
`)

/** KEYS: liveness key, servers. ARGV: server id, alive ms. Returns 0 when the key had expired (or was lost). */
const HEARTBEAT = new LuaScript(`
if redis.call('SET', KEYS[1], '1', 'PX', ARGV[2], 'XX') then return 1 end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return 0
`)

/** Sockets re-registered per script call after this server's registrations were lost. */
const REJOIN_CHUNK = 500

export interface RedisPresenceOptions {
  serverId: string
  ttlMs: number
  onError: (error: Error) => void
}

/**
 * Presence shared through Redis, with per-server liveness. Each adapter is one "server": it registers its
 * sockets under its id and keeps a liveness key alive (expiring after two thirds of `ttlMs`, refreshed every
 * third by one timer). On the same tick it removes the registrations of servers whose liveness key expired,
 * so a server killed with SIGKILL has its users offline at most `ttlMs` later. A server that finds its own
 * key gone (a long pause, or Redis lost its data) registers its sockets again from its local copy. Channel
 * presence (`ChannelPresence`) lives and dies with the same liveness.
 */
export class RedisPresence implements Presence {
  private readonly local = new Map<string, string>()
  private readonly channels: ChannelPresence
  private readonly serverId: string
  private readonly aliveMs: number
  private readonly timer: ReturnType<typeof setInterval>
  private ticking = false
  private stopped = false
  /** A join or leave failed, or Redis may have lost data: Redis must be brought back in line with `local`. */
  private dirty = false
  /** Bumped by every join and leave, so a reconcile that raced one knows to run again. */
  private version = 0
  /**
   * This server's liveness key was written (by a registration or a heartbeat): a registration that finds it gone
   * later means it lapsed, and a survivor may have removed what it kept alive.
   */
  private established = false

  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeys,
    private readonly options: RedisPresenceOptions,
  ) {
    this.serverId = options.serverId
    this.aliveMs = Math.max(1, Math.ceil((options.ttlMs * 2) / 3))
    this.channels = new ChannelPresence(connections, keys, {
      serverId: options.serverId,
      aliveMs: this.aliveMs,
      registered: (existed) => this.registered(existed),
    })
    this.timer = setInterval(() => void this.tick(), Math.max(1, Math.floor(options.ttlMs / 3)))
    this.timer.unref()
  }

  async join(userId: string, socketId: string): Promise<void> {
    this.local.set(socketId, userId)
    this.version++
    const existed = await this.wrap('join', () =>
      this.run(JOIN, this.serverKeys(this.serverId), [this.serverId, this.aliveMs, socketId, userId]),
    )
    this.registered(existed === 1)
  }

  async leave(userId: string, socketId: string): Promise<void> {
    if (this.local.get(socketId) === userId) this.local.delete(socketId)
    this.version++
    await this.wrap('leave', () =>
      this.run(LEAVE, [this.keys.presenceUsers, this.keys.presenceSockets(this.serverId)], [socketId]),
    )
  }

  async areOnline(userIds: readonly string[]): Promise<boolean[]> {
    if (userIds.length === 0) return []
    const counts = await this.wrap('areOnline', () =>
      this.connections.call((client) => client.hmget(this.keys.presenceUsers, ...userIds)),
    )
    return counts.map((count) => count !== null)
  }

  async onlineCount(): Promise<number> {
    return this.wrap('onlineCount', () => this.connections.call((client) => client.hlen(this.keys.presenceUsers)))
  }

  joinChannel(channel: string, userId: string, socketId: string): Promise<boolean> {
    return this.wrap('joinChannel', () => this.channels.join(channel, userId, socketId))
  }

  leaveChannel(channel: string, userId: string, socketId: string): Promise<boolean> {
    return this.wrap('leaveChannel', () => this.channels.leave(channel, userId, socketId))
  }

  channelMembers(channel: string): Promise<ChannelMembers> {
    return this.wrap('channelMembers', () => this.channels.members(channel))
  }

  /**
   * Refreshes this server's liveness (registering its sockets again if they were lost) and removes servers
   * whose liveness expired. Runs on the timer; the adapter also calls it after reconnecting.
   */
  async tick(): Promise<void> {
    if (this.ticking || this.stopped || this.connections.unavailable()) return
    this.ticking = true
    try {
      const alive = await this.run(
        HEARTBEAT,
        [this.keys.presenceAlive(this.serverId), this.keys.presenceServers],
        [this.serverId, this.aliveMs],
      )
      if (alive === 0 && this.established) this.channels.markDirty()
      this.established = true
      if (alive === 0 || this.dirty) {
        this.dirty = false
        await this.reconcile()
      }
      if (this.channels.isDirty) await this.channels.renew()
      await this.removeDeadServers()
      await this.channels.sweepOrphans()
    } catch (error) {
      this.dirty = true
      if (!this.stopped) this.options.onError(this.error('heartbeat', error))
    } finally {
      this.ticking = false
    }
  }

  /** Stops the timer and removes this server's registrations (users on other servers stay online). */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.timer)
    this.local.clear()
    this.channels.clear()
    await this.removeServer(this.serverId, true)
  }

  /** Makes the next tick check this server's registrations against its local sockets (after an outage). */
  markDirty(): void {
    this.dirty = true
    this.channels.markDirty()
  }

  /**
   * A registration wrote this server's liveness key. Had it lapsed since it was first written, the next tick must
   * bring back what a survivor may have removed meanwhile (the heartbeat will find the key, so it cannot tell).
   */
  private registered(existed: boolean): void {
    if (!existed && this.established) this.markDirty()
    this.established = true
  }

  /**
   * Only this server writes its sockets hash (others delete it whole once its liveness expired), so comparing
   * it with `local` and applying the difference restores it, whatever was lost or left behind.
   */
  private async reconcile(): Promise<void> {
    const version = this.version
    const registered = await this.connections.call((client) => client.hgetall(this.keys.presenceSockets(this.serverId)))
    const stale = Object.keys(registered).filter((socketId) => !this.local.has(socketId))
    await Promise.all(
      stale.map((socketId) =>
        this.run(LEAVE, [this.keys.presenceUsers, this.keys.presenceSockets(this.serverId)], [socketId]),
      ),
    )
    const pairs: string[] = []
    for (const [socketId, userId] of this.local) if (registered[socketId] !== userId) pairs.push(socketId, userId)
    for (let i = 0; i < pairs.length; i += REJOIN_CHUNK * 2) {
      const chunk = pairs.slice(i, i + REJOIN_CHUNK * 2)
      await this.run(JOIN, this.serverKeys(this.serverId), [this.serverId, this.aliveMs, ...chunk])
    }
    if (this.version !== version) this.dirty = true
  }

  private async removeDeadServers(): Promise<void> {
    const servers = (await this.connections.call((client) => client.smembers(this.keys.presenceServers))).filter(
      (id) => id !== this.serverId,
    )
    if (servers.length === 0) return
    const alive = await Promise.all(
      servers.map((id) => this.connections.call((client) => client.exists(this.keys.presenceAlive(id)))),
    )
    for (let i = 0; i < servers.length; i++) {
      if (alive[i] !== 1) await this.removeServer(servers[i]!, false)
    }
  }

  /** Removes a server's registrations (unless `force` is false and it is alive), its channel ones included. */
  private async removeServer(id: string, force: boolean): Promise<void> {
    const keys = [...this.serverKeys(id), this.keys.presenceChannels(id), this.keys.presenceOrphans]
    const orphaned = await this.run(REMOVE_SERVER, keys, [id, force ? '1' : '0'])
    await this.channels.sweep(orphaned as string[])
  }

  private serverKeys(id: string): string[] {
    return [
      this.keys.presenceServers,
      this.keys.presenceUsers,
      this.keys.presenceSockets(id),
      this.keys.presenceAlive(id),
    ]
  }

  private run(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return this.connections.call((client) => script.run(client, keys, args))
  }

  private async wrap<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      // A failed user join or leave leaves Redis out of line with `local` (channel calls mark their own).
      if (operation === 'join' || operation === 'leave') this.dirty = true
      throw this.error(operation, error)
    }
  }

  private error(operation: string, error: unknown): AdapterError {
    return adapterError(`Redis presence: ${operation} failed`, error)
  }
}
