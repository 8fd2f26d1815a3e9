import { fileURLToPath } from 'node:url'
import { Child, LOCAL_REDIS_URL, LocalNamespaces, Scope } from '@mesa/test-kit'
import { Redis } from 'ioredis'
import { RedisAdapter, type RedisAdapterOptions, type RedisConnectionInput } from '../../src/index.js'

/**
 * A test kit `Scope` that also makes what the Redis adapter's tests open: adapters on fresh namespaces of the
 * shared Redis (127.0.0.1:6379 unless told otherwise), raw clients and fixture processes. `cleanup()` releases
 * them all and deletes the namespaces' keys from the shared Redis.
 */
export class TestScope extends Scope {
  private readonly namespaces = new LocalNamespaces('test')

  namespace(): string {
    return this.namespaces.next()
  }

  /** An adapter on a namespace of its own unless `options.namespace` names one (from `namespace()`). */
  adapter(options: RedisAdapterOptions = {}, connection: RedisConnectionInput = LOCAL_REDIS_URL): RedisAdapter {
    const namespace = options.namespace ?? this.namespace()
    return this.add(new RedisAdapter(connection, { ...options, namespace }), (a) => a.close())
  }

  redis(url = LOCAL_REDIS_URL): Redis {
    const client = new Redis(url, { maxRetriesPerRequest: 1 })
    client.on('error', () => {})
    return this.add(client, (c) => c.disconnect())
  }

  /** A fixture process (test/fixtures/<name>.ts, bundled with the packages from source), killed at cleanup. */
  async fixture(name: string, env: Record<string, string>): Promise<Child> {
    const script = fileURLToPath(new URL(`../fixtures/${name}.ts`, import.meta.url))
    return this.add(await Child.start(name, script, env), (child) => child.kill())
  }

  async keysOf(namespace: string, url = LOCAL_REDIS_URL): Promise<string[]> {
    return this.redis(url).keys(`mesa:${namespace}:*`)
  }

  override async cleanup(): Promise<void> {
    try {
      await super.cleanup()
    } finally {
      await this.namespaces.deleteKeys()
    }
  }
}
