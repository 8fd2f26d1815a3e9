import { redisAdapterLoader } from '@mesa/core'

export { REDIS_ADAPTER_PACKAGE, type RedisConnection, type ResolvedAdapter } from '@mesa/core'

export const { checkAdapterArgument, loadRedisAdapter, resolveAdapter } = redisAdapterLoader(
  'Dispatcher',
  (specifier) => import(specifier),
)
