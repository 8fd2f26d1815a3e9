import { runGateway } from '@mesa/gateway'
import { attachChat } from './chat.mjs'
import { RedisRooms } from './redis-rooms.mjs'
import { createPageHandler } from './static.mjs'

/**
 * The chat on `@mesa/gateway` (what `pnpm start` runs): the gateway as `mesa-gateway` runs it, configured by
 * `MESA_*` variables, with the chat page served at `/` and the chat attached to its Mesa server. With
 * `MESA_REDIS_URL`, rooms live in Redis too, so gateways of one namespace share them.
 */
await runGateway((config, logger) => {
  const log = (level, msg, fields) => logger[level](fields ?? {}, msg)
  const rooms = config.redisUrl ? new RedisRooms(config.redisUrl, { namespace: config.namespace }) : undefined
  rooms?.onError((error) => log('warn', 'chat rooms: redis error', { error: error.message }))
  return {
    handleRequest: createPageHandler({ mesaPath: config.path, log }),
    setup: (mesa) => attachChat(mesa, { log, ...(rooms ? { rooms } : {}) }),
  }
})
