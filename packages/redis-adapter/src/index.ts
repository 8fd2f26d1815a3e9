// `@mesa/redis-adapter`: what an application uses to run Mesa on Redis. The adapter's parts (stores, presence,
// portal queue, replication, keys) are reached through the adapter (`adapter.store`, `adapter.presence`, ...),
// typed by the contract of `@mesa/core/server`; the errors its calls reject with are `@mesa/core`'s.

// The adapter, and how to create it.
export { createRedisAdapter, RedisAdapter, type RedisAdapterOptions } from './redis-adapter.js'
export type { RedisPortalQueueOptions } from './portal-queue.js'

// Where Redis is: a URL, ioredis options, Cluster startup nodes or an ioredis client.
export type { ClusterConnectionOptions, RedisClient, RedisConnectionInput } from './connection.js'

// The `cause` of a `StoreError` or `AdapterError` coded `store-timeout` / `adapter-timeout`.
export { RedisTimeoutError } from './connection.js'
