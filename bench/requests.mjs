// Requests in `pnpm bench`: round trips per second and latency of Mesa's requests (`client.request()` answered by
// `mesa.onRequest`) against Socket.IO's acknowledgements (`socket.timeout(ms).emitWithAck()` answered by the
// listener's `ack`), measured in the same run, and Mesa's acknowledged sends as an extra line.
//
// How it is kept fair:
// - both servers run in this process, with their defaults (Mesa: heartbeats on, rate limits on; Socket.IO:
//   pings on, no compression, as Mesa), on the same `ws` version; both echo the request's data back;
// - every client runs in one child process (bench/request-clients-process.mjs), so that clients' CPU is not
//   counted as the servers'; Socket.IO's clients use only its WebSocket transport;
// - the same payload, the same number of connections, each keeping the same number of round trips in flight
//   (a closed loop: each reply starts the next request) for the same time;
// - latency is measured per round trip in the client process (`performance.now()` from the call to its
//   settlement); server CPU is this process's CPU time during the load divided by the round trips completed;
// - both are warmed up first, then measured in rounds, the peers one after the other in an order that turns
//   with each round; each figure is the median of the rounds, and each ratio the median of the rounds' ratios
//   (this machine is shared: a spike of load spoils one round of one peer, not the result).
import { once } from 'node:events'
import { fork } from 'node:child_process'
import { createServer } from 'node:http'
import { Server } from 'socket.io'
import { Message } from '../packages/core/dist/index.js'
import { Mesa } from '../packages/server/dist/index.js'

const CONNECTIONS = Number(process.env.BENCH_REQUEST_CONNECTIONS ?? 50)
const IN_FLIGHT = Number(process.env.BENCH_REQUEST_IN_FLIGHT ?? 4)
const ROUNDS = Number(process.env.BENCH_REQUEST_ROUNDS ?? 3)
const ROUND_MS = Number(process.env.BENCH_REQUEST_ROUND_MS ?? 2500)
const WARMUP_MS = Number(process.env.BENCH_REQUEST_WARMUP_MS ?? 1500)
/** Far above any round trip here: a timeout means something broke, and the benchmark says so. */
const TIMEOUT = 10_000
/**
 * The rate limit stays on (its check runs on every frame), raised because one connection here sends some hundreds
 * of requests per second, above the default 200 messages per second; its cost does not depend on the numbers.
 */
const REQUEST_RATE = { messagesPerSecond: 100_000, messageBurst: 100_000 }

async function mesaServer() {
  const mesa = new Mesa({ port: 0, limits: { rate: REQUEST_RATE } })
  mesa.on('connection', (client) => client.authenticate((data, done) => done(null, { id: String(data.id), user: {} })))
  mesa.onRequest('ECHO', (message) => new Message(0, message.data, 'ECHO'))
  // Acknowledged sends are acknowledged once the listeners ran.
  let notes = 0
  mesa.on('message', () => {
    notes++
  })
  await mesa.listening()
  return {
    url: `ws://127.0.0.1:${mesa.port}/`,
    connections: () => mesa.stats.connections.protocol2,
    rateLimited: () => mesa.stats.rateLimited,
    notes: () => notes,
    close: () => mesa.close(),
  }
}

async function socketIoServer() {
  const http = createServer()
  const io = new Server(http)
  io.on('connection', (socket) => socket.on('req', (data, ack) => ack(data)))
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  return {
    url: `http://127.0.0.1:${http.address().port}`,
    connections: () => io.engine.clientsCount,
    close: () => new Promise((resolve) => io.close(resolve)),
  }
}

function ask(clients, command) {
  clients.send(command)
  return once(clients, 'message').then(([reply]) => reply)
}

/** One peer's load for `ms`, with this process's CPU time spent meanwhile (the servers' share). */
async function loadRound(clients, peer, ms) {
  globalThis.gc?.()
  const cpuStart = process.cpuUsage()
  const result = await ask(clients, { load: peer, ms })
  const cpu = process.cpuUsage(cpuStart)
  if (result.failed > 0) throw new Error(`${result.failed} round trips of ${peer} failed`)
  return { ...result, serverCpuPerRequest: (cpu.user + cpu.system) / result.completed }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

/** Round trips per second, p50 and p99 latency, CPU per request of each peer: medians, and medians of ratios. */
export async function requestRun(payload) {
  const mesa = await mesaServer()
  const socketIo = await socketIoServer()
  const clients = fork(new URL('./request-clients-process.mjs', import.meta.url), [
    JSON.stringify({ mesaUrl: mesa.url, socketIoUrl: socketIo.url, connections: CONNECTIONS, inFlight: IN_FLIGHT, timeout: TIMEOUT, payload }),
  ])
  await ask(clients, 'open')
  for (const [name, server] of [['Mesa', mesa], ['Socket.IO', socketIo]]) {
    if (server.connections() !== CONNECTIONS) throw new Error(`${name} has ${server.connections()} connections, not ${CONNECTIONS}`)
  }
  const peers = ['mesa', 'socket.io', 'mesa-ack']
  let acknowledged = 0
  const run = async (peer, ms) => {
    const result = await loadRound(clients, peer, ms)
    if (peer === 'mesa-ack') acknowledged += result.completed
    return result
  }
  for (const peer of peers) await run(peer, WARMUP_MS)
  const rounds = Object.fromEntries(peers.map((peer) => [peer, []]))
  for (let round = 0; round < ROUNDS; round++) {
    // The order turns each round, so that none is always first after a pause or last in a busy spell.
    const order = peers.map((_, i) => peers[(i + round) % peers.length])
    for (const peer of order) rounds[peer].push(await run(peer, ROUND_MS))
  }
  if (mesa.rateLimited() !== 0) throw new Error('the request benchmark ran into the rate limit')
  // Each acknowledged send reached the listener once, before its acknowledgement.
  if (mesa.notes() !== acknowledged) throw new Error(`${acknowledged} sends were acknowledged, the listener got ${mesa.notes()}`)
  await ask(clients, 'close')
  await once(clients, 'exit')
  await mesa.close()
  await socketIo.close()
  const figures = (peer) => {
    const of = (key) => median(rounds[peer].map((r) => r[key]))
    return {
      perSecond: of('perSecond'),
      p50: of('p50'),
      p99: of('p99'),
      serverCpu: of('serverCpuPerRequest'),
      clientCpu: of('clientCpuPerRequest'),
    }
  }
  /** Median over the rounds of `peer`'s figure divided by Socket.IO's in the same round. */
  const ratio = (peer, key) => median(rounds[peer].map((r, i) => r[key] / rounds['socket.io'][i][key]))
  const ratios = (peer) => ({
    perSecond: ratio(peer, 'perSecond'),
    p50: ratio(peer, 'p50'),
    p99: ratio(peer, 'p99'),
    serverCpu: ratio(peer, 'serverCpuPerRequest'),
    clientCpu: ratio(peer, 'clientCpuPerRequest'),
  })
  return {
    connections: CONNECTIONS,
    inFlight: IN_FLIGHT,
    rounds: ROUNDS,
    roundMs: ROUND_MS,
    mesa: figures('mesa'),
    socketIo: figures('socket.io'),
    ack: figures('mesa-ack'),
    ratios: ratios('mesa'),
    ackRatios: ratios('mesa-ack'),
  }
}

/** The lines `pnpm bench` prints. */
export function requestLines(r) {
  const ms = (value) => `${value.toFixed(2)} ms`
  const x = (value) => `${value.toFixed(2)}x`
  const { mesa, socketIo, ack, ratios, ackRatios } = r
  return [
    `requests, ${r.connections} connections x ${r.inFlight} in flight, ${r.rounds} rounds of ${r.roundMs / 1000} s each (medians; ratios: medians of the rounds' Mesa / Socket.IO):`,
    `  round trips per second: Mesa request() ${mesa.perSecond.toFixed(0)}, Socket.IO emitWithAck ${socketIo.perSecond.toFixed(0)} -> ${x(ratios.perSecond)} (target at least 1x) ${ratios.perSecond >= 1 ? 'met' : 'MISSED'}`,
    `  p50 latency: Mesa ${ms(mesa.p50)}, Socket.IO ${ms(socketIo.p50)} -> ${x(ratios.p50)}`,
    `  p99 latency: Mesa ${ms(mesa.p99)}, Socket.IO ${ms(socketIo.p99)} -> ${x(ratios.p99)} (target below 1x) ${ratios.p99 < 1 ? 'met' : 'MISSED'}`,
    `  server CPU per round trip: Mesa ${mesa.serverCpu.toFixed(1)} µs, Socket.IO ${socketIo.serverCpu.toFixed(1)} µs -> ${x(ratios.serverCpu)}; client CPU per round trip: Mesa ${mesa.clientCpu.toFixed(1)} µs, Socket.IO ${socketIo.clientCpu.toFixed(1)} µs -> ${x(ratios.clientCpu)}`,
    `  acknowledged sends (informative): Mesa send({ ack: true }) ${ack.perSecond.toFixed(0)}/s (${x(ackRatios.perSecond)} Socket.IO's emitWithAck), p50 ${ms(ack.p50)}, p99 ${ms(ack.p99)} (${x(ackRatios.p99)}), server CPU ${ack.serverCpu.toFixed(1)} µs (${x(ackRatios.serverCpu)})`,
  ]
}
