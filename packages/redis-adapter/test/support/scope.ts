import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { RedisAdapter, type RedisAdapterOptions, type RedisConnectionInput } from '../../src/index.js'

export const LOCAL_REDIS = 'redis://127.0.0.1:6379'

/**
 * What one test opened: adapters, raw clients and the namespaces it used. `cleanup()` closes them all and
 * deletes the namespaces' keys from the shared Redis.
 */
export class TestScope {
  private readonly adapters: RedisAdapter[] = []
  private readonly clients: Redis[] = []
  private readonly namespaces = new Set<string>()

  namespace(): string {
    const ns = `test-${randomUUID()}`
    this.namespaces.add(ns)
    return ns
  }

  adapter(options: RedisAdapterOptions = {}, connection: RedisConnectionInput = LOCAL_REDIS): RedisAdapter {
    const adapter = new RedisAdapter(connection, { namespace: this.namespace(), ...options })
    if (options.namespace) this.namespaces.add(options.namespace)
    this.adapters.push(adapter)
    return adapter
  }

  redis(url = LOCAL_REDIS): Redis {
    const client = new Redis(url, { maxRetriesPerRequest: 1 })
    client.on('error', () => {})
    this.clients.push(client)
    return client
  }

  async keysOf(namespace: string, url = LOCAL_REDIS): Promise<string[]> {
    return this.redis(url).keys(`mesa:${namespace}:*`)
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.adapters.splice(0).map((a) => a.close()))
    const local = this.namespaces.size > 0 ? new Redis(LOCAL_REDIS) : undefined
    if (local) {
      for (const ns of this.namespaces) {
        const keys = await local.keys(`mesa:${ns}:*`)
        if (keys.length > 0) await local.del(...keys)
      }
      local.disconnect()
    }
    this.namespaces.clear()
    for (const client of this.clients.splice(0)) client.disconnect()
  }
}
