// `pnpm bench`: Mesa's hot paths against a baseline measured in the same run on the same machine.
// Figures are ratios (machines here are shared and noisy; absolute numbers mean little).
// Server cost is measured as this process's CPU time per delivered message; clients run in a child process.
import { once } from 'node:events'
import { createServer } from 'node:http'
import { execFileSync, fork } from 'node:child_process'
import { Message } from '../packages/core/dist/index.js'
import { MemoryMessageStore, encodeMessage } from '../packages/core/dist/server.js'
import { observabilityRun } from './observability.mjs'
import { Mesa } from '../packages/server/dist/index.js'
import { WebSocketServer } from '../packages/server/node_modules/ws/wrapper.mjs'
import { inboundVariants } from './inbound.mjs'
import { ask, median, received } from './support.mjs'

const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 300)
const BROADCASTS = Number(process.env.BENCH_BROADCASTS ?? 400)
const TARGETED_SENDS = Number(process.env.BENCH_TARGETED ?? 3000)
const TARGETED_SOCKETS = Number(process.env.BENCH_TARGETED_SOCKETS ?? 2000)
const RECIPIENTS = 5
const INBOUND_SOCKETS = Number(process.env.BENCH_INBOUND_SOCKETS ?? 200)
const INBOUND_ROUNDS = Number(process.env.BENCH_INBOUND_ROUNDS ?? 150)
const INBOUND_PER_ROUND = 5
/**
 * The rate limit is on, its check runs on every frame; its numbers are raised so that the benchmark's
 * 750 messages per socket in a few seconds stay under it (the cost of the check does not depend on them).
 */
const INBOUND_RATE = { messagesPerSecond: 100_000, messageBurst: 100_000 }

async function startClients(url, count, authenticate) {
  const clients = fork(new URL('./clients-process.mjs', import.meta.url), [JSON.stringify({ url, count, authenticate })])
  await ask(clients, 'open')
  return clients
}

/** Runs `send(i)` `count` times in batches of one event-loop tick; returns server CPU µs spent and wall ms. */
async function measure(count, batch, send, clients, expected) {
  const cpuStart = process.cpuUsage()
  const wallStart = performance.now()
  for (let i = 0; i < count; i += batch) {
    for (let j = i; j < Math.min(count, i + batch); j++) send(j)
    await new Promise((resolve) => setImmediate(resolve))
  }
  await received(clients, expected)
  const cpu = process.cpuUsage(cpuStart)
  return { cpuMicros: cpu.user + cpu.system, wallMs: performance.now() - wallStart }
}

/** The 1.x way: a plain ws server that serializes per socket and writes each message on its own. */
async function baselineServer() {
  const http = createServer()
  const wss = new WebSocketServer({ server: http })
  const byConnection = new Map()
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ op: 10, d: { rules: [] } }))
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString())
      if (frame.op === 2) {
        byConnection.set(ws, frame.d.id)
        ws.send(JSON.stringify({ op: 22, d: {} }))
      }
    })
  })
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  return {
    url: `ws://127.0.0.1:${http.address().port}/baseline`,
    broadcast(message) {
      for (const ws of wss.clients) ws.send(JSON.stringify(message.toJSON()))
    },
    sendTo(message, recipients) {
      // 1.x: scan every socket for every recipient.
      for (const id of recipients) {
        for (const ws of wss.clients) if (byConnection.get(ws) === id) ws.send(JSON.stringify(message.toJSON()))
      }
    },
    async close() {
      for (const ws of wss.clients) ws.terminate()
      wss.close()
      http.close()
    },
  }
}

async function mesaServer() {
  const mesa = new Mesa({ port: 0 })
  mesa.on('connection', (client) => client.authenticate((data, done) => done(null, { id: String(data.id), user: {} })))
  await mesa.listening()
  return {
    url: `ws://127.0.0.1:${mesa.port}/`,
    broadcast(message) {
      mesa.send(message)
    },
    sendTo(message, recipients) {
      mesa.send(message, recipients)
    },
    close: () => mesa.close(),
  }
}

const payload = { content: 'The quick brown fox jumps over the lazy dog', author: { id: '42', name: 'Ada' }, tags: ['a', 'b', 'c'] }

/** Broadcasts sent and delivered before a broadcast run is measured: the new server's code paths warmed up. */
const WARMUP_BROADCASTS = 40

async function broadcastRun(makeServer) {
  const server = await makeServer()
  const clients = await startClients(server.url, SOCKETS, false)
  const message = new Message(0, payload, 'NEW_MESSAGE')
  for (let i = 0; i < WARMUP_BROADCASTS; i++) server.broadcast(message)
  await received(clients, SOCKETS * WARMUP_BROADCASTS)
  // Each run starts from a collected heap: what the previous run left is not this run's garbage to collect.
  globalThis.gc?.()
  const result = await measure(BROADCASTS, 20, () => server.broadcast(message), clients, SOCKETS * (WARMUP_BROADCASTS + BROADCASTS))
  await ask(clients, 'close')
  await once(clients, 'exit')
  await server.close()
  return { ...result, perDelivery: result.cpuMicros / (SOCKETS * BROADCASTS) }
}

async function targetedRun(makeServer) {
  const server = await makeServer()
  const clients = await startClients(server.url, TARGETED_SOCKETS, true)
  const message = new Message(0, payload, 'NEW_MESSAGE')
  const recipients = Array.from({ length: TARGETED_SENDS }, (_, i) =>
    Array.from({ length: RECIPIENTS }, (_, j) => `u${(i * 7 + j * 131) % TARGETED_SOCKETS}`),
  )
  const result = await measure(TARGETED_SENDS, 50, (i) => server.sendTo(message, recipients[i]), clients, TARGETED_SENDS * RECIPIENTS)
  await ask(clients, 'close')
  await once(clients, 'exit')
  await server.close()
  return { ...result, perSend: result.cpuMicros / TARGETED_SENDS }
}

/** A server of `module` with default options, `INBOUND_SOCKETS` clients connected to it, counting what it receives. */
async function inboundServer(module) {
  const mesa = new module.Mesa({ port: 0, limits: { rate: INBOUND_RATE } })
  const server = { mesa, received: 0, target: 0, arrived: () => {}, rounds: [] }
  mesa.on('message', () => {
    if (++server.received === server.target) server.arrived()
  })
  await mesa.listening()
  server.clients = await startClients(`ws://127.0.0.1:${mesa.port}/`, INBOUND_SOCKETS, false)
  return server
}

/** Has every client of `server` send `perSocket` messages; adds the server CPU it took until all arrived. */
async function inboundRound(server, frame, perSocket) {
  server.target = server.received + INBOUND_SOCKETS * perSocket
  const arrived = new Promise((resolve) => {
    server.arrived = resolve
  })
  const sent = once(server.clients, 'message')
  server.clients.send({ send: { perSocket, frame } })
  // From here: the IPC write above is the benchmark's, and no message can be read before it returned.
  const cpuStart = process.cpuUsage()
  await arrived
  const cpu = process.cpuUsage(cpuStart)
  await sent
  server.rounds.push((cpu.user + cpu.system) / (INBOUND_SOCKETS * perSocket))
}

const sum = (values) => values.reduce((total, value) => total + value, 0)

/**
 * Server CPU per received message of both variants, measured in alternating rounds: the load of this shared
 * machine changes from second to second, so each round of one is paired with the round of the other next to it,
 * and the median of the pairs' ratios is the figure (a spike of load hits one pair, not the result).
 */
async function inboundRun(variants) {
  const checked = await inboundServer(variants.checked)
  const unchecked = await inboundServer(variants.unchecked)
  const frame = JSON.stringify({ op: 0, d: payload, t: 'NEW_MESSAGE' })
  for (let round = 0; round < INBOUND_ROUNDS; round++) {
    for (const server of round % 2 ? [checked, unchecked] : [unchecked, checked]) await inboundRound(server, frame, INBOUND_PER_ROUND)
  }
  if (checked.mesa.stats.rateLimited !== 0) throw new Error('the inbound benchmark ran into the rate limit')
  for (const server of [checked, unchecked]) {
    await ask(server.clients, 'close')
    await once(server.clients, 'exit')
    await server.mesa.close()
  }
  return {
    checked: sum(checked.rounds) / INBOUND_ROUNDS,
    unchecked: sum(unchecked.rounds) / INBOUND_ROUNDS,
    ratio: median(checked.rounds.map((cpu, round) => cpu / unchecked.rounds[round])),
  }
}

function heapUsed() {
  globalThis.gc?.()
  return process.memoryUsage().heapUsed
}

async function storeRun() {
  const users = 500
  const perUser = 1000
  const before = heapUsed()
  // 1.x: an unbounded hash of arrays (`undelivered_messages`).
  const legacy = new Map()
  for (let u = 0; u < users; u++) for (let i = 0; i < perUser; i++) {
    const list = legacy.get(`u${u}`) ?? []
    list.push(JSON.stringify({ op: 0, d: { ...payload, i }, t: 'NEW_MESSAGE' }))
    legacy.set(`u${u}`, list)
  }
  const legacyBytes = heapUsed() - before
  // Read after measuring so neither structure is collected before it is counted.
  if (legacy.get('u0').length !== perUser) throw new Error('baseline lost messages')
  legacy.clear()
  const base = heapUsed()
  const store = new MemoryMessageStore({ maxEntries: 100 })
  for (let u = 0; u < users; u++) for (let i = 0; i < perUser; i++) {
    await store.append(`user:u${u}`, { frame: encodeMessage(new Message(0, { ...payload, i }, 'NEW_MESSAGE')) })
  }
  const mesaBytes = heapUsed() - base
  const kept = await store.readAfter('user:u0', { epoch: (await store.head('user:u0')).epoch, seq: 0 })
  if (kept.status !== 'trimmed') throw new Error(`the bounded store kept everything (${kept.status})`)
  return { legacyBytes, mesaBytes, users, perUser }
}

const ratio = (a, b) => (a / b).toFixed(2)

console.log(`Mesa benchmark: ${SOCKETS} sockets x ${BROADCASTS} broadcasts; ${TARGETED_SOCKETS} sockets x ${TARGETED_SENDS} targeted sends of ${RECIPIENTS} recipients`)
const baseBroadcast = await broadcastRun(baselineServer)
const mesaBroadcast = await broadcastRun(mesaServer)
console.log(
  `broadcast fan-out: server CPU per delivered message baseline ${baseBroadcast.perDelivery.toFixed(2)} µs, Mesa ${mesaBroadcast.perDelivery.toFixed(2)} µs -> Mesa is ${ratio(baseBroadcast.perDelivery, mesaBroadcast.perDelivery)}x cheaper; wall time ratio ${ratio(baseBroadcast.wallMs, mesaBroadcast.wallMs)}x`,
)
const baseTargeted = await targetedRun(baselineServer)
const mesaTargeted = await targetedRun(mesaServer)
console.log(
  `targeted sends (${TARGETED_SOCKETS} sockets): server CPU per send baseline ${baseTargeted.perSend.toFixed(1)} µs, Mesa ${mesaTargeted.perSend.toFixed(1)} µs -> Mesa is ${ratio(baseTargeted.perSend, mesaTargeted.perSend)}x cheaper`,
)
const store = await storeRun()
console.log(
  `redelivery store, ${store.users} users x ${store.perUser} messages: 1.x unbounded hash ${(store.legacyBytes / 2 ** 20).toFixed(1)} MiB, Mesa bounded (100/stream) ${(store.mesaBytes / 2 ** 20).toFixed(1)} MiB -> ${ratio(store.legacyBytes, store.mesaBytes)}x smaller`,
)
const memory = JSON.parse(
  execFileSync(process.execPath, ['--expose-gc', new URL('./connection-memory.mjs', import.meta.url).pathname, process.env.BENCH_MEMORY_SOCKETS ?? '2000'], {
    encoding: 'utf8',
  }),
)
console.log(
  `memory per authenticated protocol 2 connection (${memory.count} sockets, sync and heartbeats on): bare ws ${(memory.bare / 1024).toFixed(2)} KB, Mesa ${(memory.mesa / 1024).toFixed(2)} KB -> ${ratio(memory.mesa, memory.bare)}x bare ws (target at most 1.4x)`,
)
const inbound = await inboundRun(await inboundVariants())
console.log(
  `inbound, ${INBOUND_SOCKETS} sockets x ${INBOUND_ROUNDS * INBOUND_PER_ROUND} messages: server CPU per received message without input checks ${inbound.unchecked.toFixed(2)} µs, with sanitising + depth/key limits + payload and rate limits ${inbound.checked.toFixed(2)} µs (means); median ratio of ${INBOUND_ROUNDS} paired rounds ${inbound.ratio.toFixed(3)} -> the checks cost ${((inbound.ratio - 1) * 100).toFixed(1)}%`,
)
// Observability: live plain and observed servers in processes of their own, alternating rounds
// (bench/observability.mjs says how).
const observability = await observabilityRun(payload)
console.log(
  `observability cost, broadcast fan-out: server CPU per delivered message ${observability.plain.toFixed(3)} µs plain, ${observability.observed.toFixed(3)} µs with @mesa/server/metrics scraped every 250 ms and a pino logger, over ${observability.rounds} alternating rounds each -> ${observability.ratio.toFixed(2)}x (median of the paired rounds ${observability.pairs.toFixed(2)}x; target at most 1.05x)`,
)
// Channels across servers against Socket.IO rooms with its Redis adapter: server processes on the shared Redis
// (bench/channels.mjs says how the comparison is kept fair).
const { channelsBench } = await import('./channels.mjs')
for (const line of await channelsBench(payload)) console.log(line)
// Requests: Mesa's request round trips against Socket.IO's emitWithAck (bench/requests.mjs says how it is kept fair).
const { requestRun, requestLines } = await import('./requests.mjs')
for (const line of requestLines(await requestRun(payload))) console.log(line)
