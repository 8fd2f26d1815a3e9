// The clients of the request benchmark (bench/requests.mjs), in a child process so that their CPU time is not
// counted as the servers'. One process holds both peers' connections, so that they share the same process,
// heap and event loop; only one peer's load runs at a time.
import { Client, Message } from '../packages/client-node/dist/index.js'
import { io } from 'socket.io-client'

const { mesaUrl, socketIoUrl, connections, inFlight, timeout, payload } = JSON.parse(process.argv[2])

/** Latencies are counted in bins of 10 µs up to 1 s (the last bin takes anything slower): no allocation per round trip. */
const BINS_PER_MS = 100
const BINS = 1000 * BINS_PER_MS

/** Each peer: its connections, and `ask(connection)` making one round trip (resolves once it is done). */
const peers = {}
/** The latencies of the load running now. */
const histogram = new Uint32Array(BINS)

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
  const note = new Message(0, payload, 'NOTE')
  peers.mesa = { clients, ask: (client) => client.request(request, { timeout }) }
  peers['mesa-ack'] = { clients, ask: (client) => client.send(note, { ack: true, timeout }) }
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
  histogram.fill(0)
  let completed = 0
  let failed = 0
  let stop = false
  const loop = async (client) => {
    while (!stop) {
      const start = performance.now()
      try {
        await ask(client)
        histogram[Math.min(BINS - 1, Math.floor((performance.now() - start) * BINS_PER_MS))]++
        completed++
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
  const cpu = process.cpuUsage(cpuStart)
  return { completed, failed, wallMs: performance.now() - wallStart, clientCpu: cpu.user + cpu.system, ...quantiles(histogram) }
}

/** The p50 and p99 latency (ms, upper bounds of their bins) in `histogram`. */
function quantiles(histogram) {
  const total = histogram.reduce((sum, count) => sum + count, 0)
  const at = (q) => {
    let seen = 0
    for (let bin = 0; bin < BINS; bin++) {
      seen += histogram[bin]
      if (seen >= q * total) return (bin + 1) / BINS_PER_MS
    }
    return Number.NaN
  }
  return { p50: at(0.5), p99: at(0.99) }
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
