import { createRequire } from 'node:module'
import {
  type Adapter,
  createLoadedRedisAdapter,
  REDIS_ADAPTER_PACKAGE,
  type RedisAdapterRequester,
  type RedisConnection,
  redisAdapterLoadError,
} from '@mesa/core/server'

export { REDIS_ADAPTER_PACKAGE } from '@mesa/core/server'

const requester: RedisAdapterRequester = {
  owner: 'Mesa',
  need: 'option "redis"',
  alternative: 'an Adapter as option "adapter"',
}

/** Resolves from this package, which has `@mesa/redis-adapter` as an optional peer; never a dependency. */
const requireHere = createRequire(import.meta.url)

/**
 * Creates the adapter of the 1.x `redis` option. The package is resolved synchronously, so that a missing one
 * fails in the constructor, where the mistake is; it is then loaded with `import()`, so that the ESM build of
 * the server gets the ESM build of the adapter and of `@mesa/core` beside it: requiring it from ESM would load
 * the CommonJS builds as a second copy of core, whose `AdapterError` and adapter classes are not the
 * application's (`instanceof` fails). The CommonJS build of the server gets `require()` there instead (its
 * `import()` is compiled to `require()`, see tsup.base.ts).
 *
 * Resolution through `require.resolve` walks the same `node_modules` folders as `import` does; the package
 * has a `require` export as well as an `import` one.
 */
export function loadRedisAdapter(
  redis: RedisConnection,
  namespace: string | undefined,
  specifier: string = REDIS_ADAPTER_PACKAGE,
): Promise<Adapter> {
  try {
    requireHere.resolve(specifier)
  } catch (error) {
    throw redisAdapterLoadError(requester, specifier, error)
  }
  return import(specifier).then(
    (loaded: unknown) => createLoadedRedisAdapter(requester, specifier, loaded, redis, namespace),
    (error: unknown) => {
      throw redisAdapterLoadError(requester, specifier, error)
    },
  )
}
