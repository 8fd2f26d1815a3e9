import type { UserChannels } from '@mesa/core/server'
import type { RedisConnections } from './connection.js'
import { adapterError } from './errors.js'
import type { RedisKeys } from './keys.js'
import { LuaScript } from './lua-script.js'

/**
 * KEYS: users' channel sets. ARGV: channel, the most channels a set may hold. Adds the channel to each set that
 * has it already or has room; returns the (1-based) positions of the keys whose set was full.
 */
const ADD = new LuaScript(`
local full = {}
for i, key in ipairs(KEYS) do
  if redis.call('SISMEMBER', key, ARGV[1]) == 0 then
    if redis.call('SCARD', key) >= tonumber(ARGV[2]) then full[#full + 1] = i
    else redis.call('SADD', key, ARGV[1]) end
  end
end
return full
`)

/** KEYS: users' channel sets. ARGV: channel. */
const REMOVE = new LuaScript(`
for _, key in ipairs(KEYS) do redis.call('SREM', key, ARGV[1]) end
return 1
`)

/** Users per script call on a standalone Redis (a Cluster takes one per call: each user's set has its own slot). */
const CHUNK = 256

/**
 * The channels users were subscribed to from backends: one Redis set per user
 * (`mesa:<ns>:channel-subscriptions:{<ns>:cs:<userId>}`), no expiry. Adding checks the bound and adds in one
 * script per set, so concurrent dispatchers never take a set past it. Standalone, a call for many users is one
 * script per 256 of them, all sent at once; on a Cluster, one per user (their sets are spread over the slots),
 * also sent at once.
 */
export class RedisUserChannels implements UserChannels {
  private readonly chunk: number

  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeys,
  ) {
    this.chunk = connections.isCluster ? 1 : CHUNK
  }

  async add(channel: string, userIds: readonly string[], maxPerUser: number): Promise<string[]> {
    const results = await this.each('add', userIds, ADD, [channel, maxPerUser])
    return results.flatMap(([ids, full]) => (full as number[]).map((position) => ids[position - 1]!))
  }

  async remove(channel: string, userIds: readonly string[]): Promise<void> {
    await this.each('remove', userIds, REMOVE, [channel])
  }

  async channelsOf(userId: string): Promise<string[]> {
    try {
      return await this.connections.call((client) => client.smembers(this.keys.channelSubscriptions(userId)))
    } catch (error) {
      throw adapterError('Redis user channels: channelsOf failed', error)
    }
  }

  /** Runs `script` over the users' sets, a chunk per call, every call sent at once; each chunk with its reply. */
  private async each(
    operation: string,
    userIds: readonly string[],
    script: LuaScript,
    args: readonly (string | number)[],
  ): Promise<[readonly string[], unknown][]> {
    const chunks: (readonly string[])[] = []
    for (let i = 0; i < userIds.length; i += this.chunk) chunks.push(userIds.slice(i, i + this.chunk))
    try {
      return await Promise.all(
        chunks.map(async (ids) => {
          const keys = ids.map((id) => this.keys.channelSubscriptions(id))
          return [ids, await this.connections.call((client) => script.run(client, keys, args))] as [readonly string[], unknown]
        }),
      )
    } catch (error) {
      throw adapterError(`Redis user channels: ${operation} failed`, error)
    }
  }
}
