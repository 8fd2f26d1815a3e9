import { createRequire } from 'node:module'
import {
  type Adapter,
  createLoadedRedisAdapter,
  REDIS_ADAPTER_PACKAGE,
  type RedisAdapterRequester,
  type RedisConnection,
  redisAdapterLoadError,
} from '@mesa/core'

export { REDIS_ADAPTER_PACKAGE } from '@mesa/core'

const requester: RedisAdapterRequester = {
  owner: 'Mesa',
  need: 'option "redis"',
  alternative: 'an Adapter as option "adapter"',
}

/**
 * Creates the adapter of the 1.x `redis` option by requiring `@mesa/redis-adapter` synchronously, so that a
 * missing package fails in the constructor, where the mistake is. Resolved from this package, which has it as
 * an optional peer; never a dependency.
 */
export function loadRedisAdapter(
  redis: RedisConnection,
  namespace: string | undefined,
  specifier: string = REDIS_ADAPTER_PACKAGE,
): Adapter | Promise<Adapter> {
  let loaded: unknown
  try {
    loaded = createRequire(import.meta.url)(specifier)
  } catch (error) {
    throw redisAdapterLoadError(requester, specifier, error)
  }
  return createLoadedRedisAdapter(requester, specifier, loaded, redis, namespace)
}
