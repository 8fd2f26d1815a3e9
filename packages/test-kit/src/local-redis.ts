import IORedis from 'ioredis'

/** The Redis every development machine and CI run on 127.0.0.1:6379, shared by all test files. */
export const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379'

/**
 * Namespaces one test file uses on the shared Redis, unique to its process so that files running at the same
 * time never meet; `deleteKeys()` (from `afterAll`) removes every key they left behind.
 */
export class LocalNamespaces {
  private readonly used: string[] = []

  constructor(private readonly prefix: string) {}

  next(): string {
    const namespace = `${this.prefix}-${process.pid}-${this.used.length}`
    this.used.push(namespace)
    return namespace
  }

  async deleteKeys(): Promise<void> {
    const redis = new IORedis(LOCAL_REDIS_URL)
    try {
      for (const namespace of this.used.splice(0)) {
        const keys = await redis.keys(`mesa:${namespace}:*`)
        if (keys.length > 0) await redis.del(...keys)
      }
    } finally {
      redis.disconnect()
    }
  }
}
