import type { Deduplicator, DeliveryClaim } from '@mesa/core/server'
import type { RedisClient, RedisConnections } from './connection.js'
import { adapterError } from './errors.js'
import type { RedisKeys } from './keys.js'
import { LuaScript } from './lua-script.js'

/** KEYS: the claim. ARGV: lease ms. Claims it (`busy`, expiring after the lease) unless it exists; answers what it is. */
const BEGIN = new LuaScript(`
if redis.call('SET', KEYS[1], 'busy', 'NX', 'PX', ARGV[1]) then return 'new' end
return redis.call('GET', KEYS[1]) or 'busy'
`)

/** KEYS: the claim. Forgets it while it is `busy` (never a `done` one). */
const ABANDON = new LuaScript(`
if redis.call('GET', KEYS[1]) == 'busy' then return redis.call('DEL', KEYS[1]) end
return 0
`)

/** PX takes whole milliseconds, at least 1. */
const milliseconds = (ms: number) => Math.max(1, Math.ceil(ms))

/**
 * The deduplicator on Redis: one key per message, `busy` while a server handles it (expiring with the lease, so
 * the claim of a server that died lapses) and `done` once handled (expiring after the window). Every key has a
 * TTL, so what it holds is bounded by the messages of one window. `begin` is one script (claim, or read the
 * claim there is), atomic on its key.
 */
export class RedisDeduplicator implements Deduplicator {
  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeys,
  ) {}

  async begin(key: string, leaseMs: number): Promise<DeliveryClaim> {
    const claim = await this.run('begin', (client) => BEGIN.run(client, [this.keys.dedupe(key)], [milliseconds(leaseMs)]))
    return claim === 'new' || claim === 'done' ? claim : 'busy'
  }

  async complete(key: string, windowMs: number): Promise<void> {
    await this.run('complete', (client) => client.set(this.keys.dedupe(key), 'done', 'PX', milliseconds(windowMs)))
  }

  async abandon(key: string): Promise<void> {
    await this.run('abandon', (client) => ABANDON.run(client, [this.keys.dedupe(key)], []))
  }

  private async run<T>(operation: string, command: (client: RedisClient) => Promise<T>): Promise<T> {
    try {
      return await this.connections.call(command)
    } catch (error) {
      throw adapterError(`Redis deduplicator: ${operation} failed`, error)
    }
  }
}
