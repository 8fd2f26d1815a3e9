import { createServer } from 'node:http'
import Mesa from '@mesa/server'
import { attachChat, CHAT_CHANNEL_RULES } from './chat.mjs'
import { createPageHandler } from './static.mjs'

/**
 * The chat page and its Mesa server on one http server (one port): the page at `/`, WebSockets at `/ws`.
 *
 * @param {{ port?: number, host?: string, heartbeatInterval?: number, log?: (level: string, msg: string, fields?: object) => void }} [options]
 *   port: default 3000 (0 picks a free one); host: default '127.0.0.1'; heartbeatInterval: ms, default 10000
 *   (clients count the server as gone after this plus a grace period without a frame).
 * @returns {Promise<{ url: string, port: number, mesa: Mesa, close: () => Promise<void> }>}
 */
export async function startChatServer({ port = 3000, host = '127.0.0.1', heartbeatInterval = 10_000, log = () => {} } = {}) {
  const handlePage = createPageHandler({ mesaPath: '/ws', log })
  const http = createServer(async (req, res) => {
    if (!(await handlePage(req, res))) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
  })
  const mesa = new Mesa({
    server: http,
    path: '/ws',
    sync: { enabled: true },
    // Rooms are channels `room:<name>`: a member who drops off resumes what the room said meanwhile, once, in order.
    channels: { rules: CHAT_CHANNEL_RULES },
    heartbeat: { enabled: true, interval: heartbeatInterval },
    reconnect: { enabled: true, interval: 1000 },
    authentication: { required: true, timeout: 10_000 },
  })
  mesa.on('error', (error) => log('warn', 'mesa error', { error: error.message }))
  attachChat(mesa, { log })
  await new Promise((resolve, reject) => {
    http.once('error', reject)
    http.listen(port, host, () => {
      http.off('error', reject)
      resolve()
    })
  })
  const actual = http.address().port
  return {
    url: `http://${host}:${actual}/`,
    port: actual,
    mesa,
    async close() {
      await mesa.close()
      http.closeAllConnections()
      await new Promise((resolve) => http.close(() => resolve()))
    },
  }
}
