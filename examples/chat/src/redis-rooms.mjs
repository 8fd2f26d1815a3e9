import { randomUUID } from 'node:crypto'
import Redis from 'ioredis'

/**
 * The chat's rooms in Redis, so that every gateway of a namespace knows every room's members: a message said
 * through one gateway goes to the members connected to any of them (Mesa replicates the send itself).
 * Same methods as the chat's `MemoryRooms`. Keys: `mesa-chat:<namespace>:room:<room>:{members,history,next,epoch}`
 * and `mesa-chat:<namespace>:user:<id>:rooms`.
 */
export class RedisRooms {
  /**
   * @param {string} url `redis://…`
   * @param {{ namespace?: string, historySize?: number, maxRoomsPerUser?: number }} [options]
   *   namespace: default 'default'; historySize: default 50; maxRoomsPerUser: default 20.
   */
  constructor(url, { namespace = 'default', historySize = 50, maxRoomsPerUser = 20 } = {}) {
    // Commands fail fast while Redis is away instead of piling up: a chat message then gets an error back.
    this.redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: false })
    this.prefix = `mesa-chat:${namespace}:`
    this.historySize = historySize
    this.maxRoomsPerUser = maxRoomsPerUser
  }

  /** ioredis reports connection trouble as `error` events; without a listener they would be thrown. */
  onError(listener) {
    this.redis.on('error', listener)
  }

  key(...parts) {
    return this.prefix + parts.join(':')
  }

  async join(room, userId) {
    const userRooms = this.key('user', userId, 'rooms')
    if (await this.redis.sismember(userRooms, room)) return true
    if ((await this.redis.scard(userRooms)) >= this.maxRoomsPerUser) return false
    await this.redis.multi().sadd(userRooms, room).sadd(this.key('room', room, 'members'), userId).exec()
    return true
  }

  async leave(room, userId) {
    await this.redis.multi().srem(this.key('user', userId, 'rooms'), room).srem(this.key('room', room, 'members'), userId).exec()
  }

  async isMember(room, userId) {
    return (await this.redis.sismember(this.key('room', room, 'members'), userId)) === 1
  }

  async members(room) {
    return this.redis.smembers(this.key('room', room, 'members'))
  }

  async snapshot(room) {
    const [epoch, members, history] = await Promise.all([
      this.epoch(room),
      this.members(room),
      this.redis.lrange(this.key('room', room, 'history'), 0, -1),
    ])
    return { epoch, members, history: history.map((entry) => JSON.parse(entry)) }
  }

  async post(room, from, text) {
    const [epoch, id] = await Promise.all([this.epoch(room), this.redis.incr(this.key('room', room, 'next'))])
    const message = { id, epoch, room, from, text, at: Date.now() }
    const history = this.key('room', room, 'history')
    await this.redis.multi().rpush(history, JSON.stringify(message)).ltrim(history, -this.historySize, -1).exec()
    return message
  }

  /** Created once per room (SET NX), whichever gateway gets there first. */
  async epoch(room) {
    const key = this.key('room', room, 'epoch')
    await this.redis.set(key, randomUUID().slice(0, 8), 'NX')
    return this.redis.get(key)
  }

  async close() {
    await this.redis.quit().catch(() => this.redis.disconnect())
  }
}
