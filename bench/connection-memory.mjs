// Server heap per authenticated protocol 2 connection: Mesa (sync on, heartbeats on: what a deployment runs)
// against a bare `ws` server that tracks the same users, measured in one run. Clients live in a child process.
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { Mesa } from '../packages/server/dist/index.js'
import { WebSocketServer } from '../packages/server/node_modules/ws/wrapper.mjs'

const HELLO_V2 = '{"op":10,"d":{"rules":[]},"x":{"protocol":2}}'

function heapUsed() {
  for (let i = 0; i < 3; i++) globalThis.gc?.()
  return process.memoryUsage().heapUsed
}

/** Heap growth per connection once `count` clients are connected and authenticated. */
async function perConnection(start, count) {
  const before = heapUsed()
  const server = await start()
  const clients = fork(new URL('./v2-clients-process.mjs', import.meta.url), [JSON.stringify({ url: server.url, count })])
  clients.send('open')
  await once(clients, 'message')
  const after = heapUsed()
  clients.send('close')
  await once(clients, 'message')
  await server.close()
  return (after - before) / count
}

/** The least a server must keep: the socket and which user it belongs to. */
async function bareServer() {
  const http = createServer()
  const wss = new WebSocketServer({ server: http, handleProtocols: (protocols) => (protocols.has('mesa.v2') ? 'mesa.v2' : false) })
  const users = new Map()
  wss.on('connection', (ws) => {
    ws.send(HELLO_V2)
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString())
      if (frame.op === 2) {
        users.set(ws, String(frame.d.id))
        ws.send('{"op":22,"d":{}}')
      }
    })
  })
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  return {
    url: `ws://127.0.0.1:${http.address().port}`,
    async close() {
      for (const ws of wss.clients) ws.terminate()
      wss.close()
      http.close()
    },
  }
}

async function mesaServer() {
  const mesa = new Mesa({ port: 0, host: '127.0.0.1', sync: { enabled: true } })
  mesa.on('connection', (client) => client.authenticate((data, done) => done(null, { id: String(data.id), user: {} })))
  await mesa.listening()
  return { url: `ws://127.0.0.1:${mesa.port}`, close: () => mesa.close() }
}

export async function connectionMemory(count) {
  const bare = await perConnection(bareServer, count)
  const mesa = await perConnection(mesaServer, count)
  return { bare, mesa, count }
}

// Run on its own (`node --expose-gc bench/connection-memory.mjs <count>`), it prints the figures as JSON: the
// benchmark runs it in a fresh process, so that the heap left by the other measurements does not count.
if (process.argv[1] === new URL(import.meta.url).pathname) {
  console.log(JSON.stringify(await connectionMemory(Number(process.argv[2] ?? 2000))))
}
