import { createRequire } from 'node:module'
import { type Adapter, AdapterError, ConfigError } from '@mesa/core'

/** The optional package the `redis` shorthand needs; never a dependency of this one. */
export const REDIS_ADAPTER_PACKAGE = '@mesa/redis-adapter'

interface RedisAdapterModule {
  createRedisAdapter(
    urlOrOptions: string | Record<string, unknown>,
    options: { namespace?: string },
  ): Adapter | Promise<Adapter>
}

function isModuleNotFound(error: unknown, specifier: string): boolean {
  if (typeof error !== 'object' || error === null) return false
  const { code, message } = error as { code?: unknown; message?: unknown }
  const notFound = code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND'
  // A missing dependency of the adapter (ioredis) is another failure than the adapter itself being absent.
  return notFound && typeof message === 'string' && message.includes(specifier)
}

/**
 * Creates the adapter of the 1.x `redis` option by requiring `@mesa/redis-adapter` synchronously, so that a
 * missing package fails in the constructor, where the mistake is.
 */
export function loadRedisAdapter(
  redis: string | Record<string, unknown>,
  namespace: string | undefined,
  specifier: string = REDIS_ADAPTER_PACKAGE,
): Adapter | Promise<Adapter> {
  const require = createRequire(import.meta.url)
  let loaded: Partial<RedisAdapterModule>
  try {
    loaded = require(specifier) as Partial<RedisAdapterModule>
  } catch (error) {
    if (isModuleNotFound(error, specifier)) {
      throw new ConfigError(
        `Mesa: option "redis" needs the optional package ${specifier}, which is not installed; ` +
          `install it (pnpm add ${specifier}) or pass an Adapter as option "adapter"`,
      )
    }
    throw new AdapterError(`Mesa: loading ${specifier} failed: ${String(error)}`, { cause: error })
  }
  if (typeof loaded.createRedisAdapter !== 'function') {
    throw new ConfigError(`Mesa: ${specifier} does not export createRedisAdapter; check its version`)
  }
  return loaded.createRedisAdapter(redis, namespace === undefined ? {} : { namespace })
}
