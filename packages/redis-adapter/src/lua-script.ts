import { createHash } from 'node:crypto'
import type { RedisClient } from './connection.js'

/**
 * A Lua script run by its SHA1, loaded again when Redis answers NOSCRIPT (after a restart or SCRIPT FLUSH).
 * On a Cluster the first key picks the node, so every key of one call must share a hash tag.
 */
export class LuaScript {
  readonly sha: string

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex')
  }

  async run(client: RedisClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args)
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
      return client.eval(this.source, keys.length, ...keys, ...args)
    }
  }
}
