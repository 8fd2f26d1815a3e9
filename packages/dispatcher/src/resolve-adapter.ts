import { redisAdapterLoader } from '@mesa/core/server'

export { REDIS_ADAPTER_PACKAGE, type RedisConnection, type ResolvedAdapter } from '@mesa/core/server'

export const { checkAdapterArgument, loadRedisAdapter, resolveAdapter } = redisAdapterLoader(
  'Dispatcher',
  (specifier) => import(specifier),
)
