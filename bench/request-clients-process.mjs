// The clients of the request benchmark (bench/requests.mjs), in a child process so that their CPU time is not
// counted as the server's. One process holds both peers' connections, so that they share the same process,
// heap and event loop; only one peer's load runs at a time.
import { Client, Message } from '../packages/client-node/dist/index.js'
import { io } from 'socket.io-client'

const { mesaUrl, socketIoUrl, connections, inFlight, timeout, payload } = JSON.parse(process.argv[2])

/** Every connection of each peer: `ask()` makes one round trip (request and reply) and resolves when it is done. */
const peers = {}

/**
 * Mesa: `@mesa/client-node` with its defaults (heartbeats answered, reconnects on), authenticated as a Mesa
 * application's clients are (acknowledged sends need it: they are keyed by the authenticated user).
 */
async function openMesa() {
  const clients = []
  for (let i = 0; i < connections; i++) {
    const client = new Client(mesaUrl)
    await client.authenticate({ id: `u${i}` })
    if (client.protocol !== 2) throw new Error('the Mesa client did not negotiate protocol 2')
    clients.push(client)
  }
  const request = new Message(0, payload, 'ECHO')
  const ackSend = new Message(0, payload, 'NOTE')
  peers.mesa = { clients, ask: (client) => client.request(request, { timeout }) }
  peers['mesa-ack'] = { clients, ask: (client) => client.send(ackSend, { ack: true, timeout }) }
}

/**
 * Socket.IO: its WebSocket transport only (no long-polling upgrade dance), acknowledgements with a timeout;
 * `forceNew`: a connection of its own for each socket, as each Mesa client has (the server checks the count).
 */
async function openSocketIo() {
  const sockets = []
  for (let i = 0; i < connections; i++) {
    const socket = io(socketIoUrl, { transports: ['websocket'], forceNew: true, reconnection: false })
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('connect_error', reject)
    })
    sockets.push(socket)
  }
  peers['socket.io'] = { clients: sockets, ask: (socket) => socket.timeout(timeout).emitWithAck('req', payload) }
}

/**
 * Every connection keeps `inFlight` round trips going (a closed loop: each one done starts the next) for `ms`;
 * then waits for those still in flight. Latency per round trip, from the call to its settlement, in this process.
 */
async function load(name, ms) {
  const { clients, ask } = peers[name]
  const latencies = []
  let failed = 0
  let stop = false
  const loop = async (client) => {
    while (!stop) {
      const start = performance.now()
      try {
        await ask(client)
        latencies.push(performance.now() - start)
      } catch {
        failed++
      }
    }
  }
  const cpuStart = process.cpuUsage()
  const wallStart = performance.now()
  const timer = setTimeout(() => {
    stop = true
  }, ms)
  await Promise.all(clients.flatMap((client) => Array.from({ length: inFlight }, () => loop(client))))
  clearTimeout(timer)
  const wallMs = performance.now() - wallStart
  const cpu = process.cpuUsage(cpuStart)
  latencies.sort((a, b) => a - b)
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
  return {
    completed: latencies.length,
    failed,
    perSecond: latencies.length / (wallMs / 1000),
    p50: at(0.5),
    p99: at(0.99),
    clientCpuPerRequest: (cpu.user + cpu.system) / latencies.length,
  }
}

process.on('message', async (command) => {
  if (command === 'open') {
    await openMesa()
    await openSocketIo()
    process.send({ opened: true })
  } else if (command.load) {
    process.send(await load(command.load, command.ms))
  } else if (command === 'close') {
    for (const client of peers.mesa.clients) client.disconnect()
    for (const socket of peers['socket.io'].clients) socket.disconnect()
    process.send({ closed: true })
    process.disconnect()
  }
})
