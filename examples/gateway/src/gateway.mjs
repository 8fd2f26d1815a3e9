import { createServer } from 'node:http'
import { attachChat } from '@mesa/example-chat/chat'
import { createPageHandler } from '@mesa/example-chat/page'
import Mesa from '@mesa/server'
import { RedisRooms } from './redis-rooms.mjs'

/**
 * Starts a gateway: one http server carrying the Mesa WebSocket endpoint, a health check at `/healthz` and,
 * unless `config.chat` is false, the chat page at `/` with the chat running on this Mesa server.
 *
 * @param {ReturnType<typeof import('./config.mjs').loadConfig>} config
 * @param {ReturnType<typeof import('./logger.mjs').createLogger>} logger
 */
export async function startGateway(config, logger) {
  const log = logger.log
  const handlePage = config.chat ? createPageHandler({ mesaPath: config.path, log }) : async () => false
  const startedAt = Date.now()
  let connections = 0

  const http = createServer(async (req, res) => {
    try {
      if (new URL(req.url ?? '/', 'http://localhost').pathname === '/healthz') {
        const body = JSON.stringify({ status: 'ok', connections, uptimeMs: Date.now() - startedAt })
        res.writeHead(200, { 'content-type': 'application/json' }).end(body)
        return
      }
      if (await handlePage(req, res)) return
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n')
    } catch (error) {
      log('error', 'http request failed', { url: req.url, error: error.message })
      if (!res.headersSent) res.writeHead(500).end()
    }
  })

  const adapter = config.redisUrl ? await redisAdapter(config) : undefined
  const mesa = new Mesa({
    server: http,
    path: config.path,
    ...(config.namespace ? { namespace: config.namespace } : {}),
    ...(adapter ? { adapter } : {}),
    heartbeat: config.heartbeat,
    reconnect: { enabled: true, interval: config.reconnectInterval },
    authentication: config.authentication,
    sync: config.sync,
  })

  mesa.on('connection', (client) => {
    connections++
    log('debug', 'connection', { clientId: client.socketId })
    client.on('disconnect', (code, reason) => {
      connections--
      log('debug', 'disconnection', { clientId: client.socketId, userId: client.userId, code, reason: String(reason ?? '') })
    })
  })
  mesa.on('error', (error) => log('warn', 'mesa error', { error: error.message, code: error.code }))
  // With Redis, rooms are shared too: a room's members may be connected to any gateway of the namespace.
  const rooms = config.chat && config.redisUrl ? new RedisRooms(config.redisUrl, { namespace: config.namespace }) : undefined
  rooms?.onError((error) => log('warn', 'chat rooms: redis error', { error: error.message }))
  if (config.chat) attachChat(mesa, { log, ...(rooms ? { rooms } : {}) })
  if (adapter) adapter.on('error', (error) => log('warn', 'adapter error', { error: error.message }))

  await new Promise((resolve, reject) => {
    http.once('error', reject)
    http.listen(config.port, config.host, () => {
      http.off('error', reject)
      resolve()
    })
  })
  await mesa.listening()
  const { port } = http.address()
  log('info', 'gateway listening', {
    port,
    host: config.host ?? '(all interfaces)',
    path: config.path,
    namespace: config.namespace ?? null,
    adapter: config.redisUrl ? 'redis' : 'memory',
    chat: config.chat,
  })

  let closing
  return {
    port,
    mesa,
    http,
    /** Stops accepting, closes every socket with 1001 (clients reconnect elsewhere), then the http server. */
    close() {
      closing ??= (async () => {
        await mesa.close()
        await rooms?.close()
        await adapter?.close()
        http.closeAllConnections()
        await new Promise((resolve) => http.close(() => resolve()))
        log('info', 'gateway closed')
      })()
      return closing
    },
  }
}

/** Loaded only when REDIS_URL is set, so the in-memory gateway needs no Redis client at all. */
async function redisAdapter(config) {
  const { createRedisAdapter } = await import('@mesa/redis-adapter')
  return createRedisAdapter(config.redisUrl, config.namespace ? { namespace: config.namespace } : {})
}
