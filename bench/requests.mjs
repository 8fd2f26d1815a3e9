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
// - both are warmed up first, then loaded in short slices, one peer after the other, the order turning with
//   each pair (A B, B A, A B...): this machine is shared and its load changes from second to second, and fine
//   interleaving lets a busy spell hit both peers. Each figure is a peer's median over its slices, each ratio the
//   median over the pairs of neighbouring slices (a spell spoils a few pairs, not the result);
// - acknowledged sends run after the requests, interleaved with Socket.IO again: the deduplicator remembers each
//   send for `acks.window` (5 min), and that growing heap must not weigh on the requests' comparison.
import { once } from 'node:events'
import { fork } from 'node:child_process'
import { createServer } from 'node:http'
import { Server } from 'socket.io'
import { Message } from '../packages/core/dist/index.js'
import { Mesa } from '../packages/server/dist/index.js'
import { ask, median } from './support.mjs'

const CONNECTIONS = Number(process.env.BENCH_REQUEST_CONNECTIONS ?? 50)
const IN_FLIGHT = Number(process.env.BENCH_REQUEST_IN_FLIGHT ?? 4)
const SLICES = Number(process.env.BENCH_REQUEST_SLICES ?? 20)
const SLICE_MS = Number(process.env.BENCH_REQUEST_SLICE_MS ?? 500)
/** Slices of acknowledged sends (and of Socket.IO next to them); 0 leaves them out. */
const ACK_SLICES = Number(process.env.BENCH_REQUEST_ACK_SLICES ?? 8)
const WARMUP_MS = Number(process.env.BENCH_REQUEST_WARMUP_MS ?? 1000)
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

/** One peer's load for `ms`, with this process's CPU time spent meanwhile (the servers' share). */
async function loadSlice(clients, peer, ms) {
  globalThis.gc?.()
  const cpuStart = process.cpuUsage()
  const result = await ask(clients, { load: peer, ms })
  const cpu = process.cpuUsage(cpuStart)
  if (result.failed > 0) throw new Error(`${result.failed} round trips of ${peer} failed`)
  return { ...result, serverCpu: cpu.user + cpu.system }
}

/**
 * `slices` slices of each of two peers, interleaved A B B A A B... Each slice's round trips per second, p50 and p99
 * latency, server and client CPU per round trip; of each, `a`'s and `b`'s medians over their slices, the median
 * over the pairs of neighbouring slices of `a`'s figure divided by `b`'s (a busy spell spoils a few pairs, not the
 * result), and in how many pairs `a` had the lower figure.
 */
async function interleaved(clients, [a, b], slices) {
  const pairs = []
  for (let i = 0; i < slices; i++) {
    const pair = {}
    for (const peer of i % 2 ? [b, a] : [a, b]) {
      const slice = await loadSlice(clients, peer, SLICE_MS)
      pair[peer] = {
        completed: slice.completed,
        perSecond: slice.completed / (slice.wallMs / 1000),
        p50: slice.p50,
        p99: slice.p99,
        serverCpu: slice.serverCpu / slice.completed,
        clientCpu: slice.clientCpu / slice.completed,
      }
    }
    pairs.push(pair)
  }
  const figure = (key) => ({
    [a]: median(pairs.map((pair) => pair[a][key])),
    [b]: median(pairs.map((pair) => pair[b][key])),
    ratio: median(pairs.map((pair) => pair[a][key] / pair[b][key])),
    lower: pairs.filter((pair) => pair[a][key] < pair[b][key]).length,
  })
  return {
    slices,
    completed: pairs.reduce((total, pair) => total + pair[a].completed, 0),
    perSecond: figure('perSecond'),
    p50: figure('p50'),
    p99: figure('p99'),
    serverCpu: figure('serverCpu'),
    clientCpu: figure('clientCpu'),
  }
}

/** Round trips per second, p50 and p99 latency, CPU per round trip of Mesa's requests and acknowledged sends and of Socket.IO. */
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
  const peers = ACK_SLICES > 0 ? ['mesa', 'socket.io', 'mesa-ack'] : ['mesa', 'socket.io']
  let acknowledged = 0
  for (const peer of peers) {
    const { completed } = await loadSlice(clients, peer, WARMUP_MS)
    if (peer === 'mesa-ack') acknowledged += completed
  }
  const requests = await interleaved(clients, ['mesa', 'socket.io'], SLICES)
  const acks = ACK_SLICES > 0 ? await interleaved(clients, ['mesa-ack', 'socket.io'], ACK_SLICES) : undefined
  if (mesa.rateLimited() !== 0) throw new Error('the request benchmark ran into the rate limit')
  // Each acknowledged send reached the listener once, before its acknowledgement.
  acknowledged += acks?.completed ?? 0
  if (mesa.notes() !== acknowledged) throw new Error(`${acknowledged} sends were acknowledged, the listener got ${mesa.notes()}`)
  await ask(clients, 'close')
  await once(clients, 'exit')
  await mesa.close()
  await socketIo.close()
  return { connections: CONNECTIONS, inFlight: IN_FLIGHT, sliceMs: SLICE_MS, requests, acks }
}

/** The lines `pnpm bench` prints. */
export function requestLines(r) {
  const ms = (value) => `${value.toFixed(2)} ms`
  const µs = (value) => `${value.toFixed(1)} µs`
  const { requests: q, acks } = r
  const compare = (figure, format, mesa = 'mesa') =>
    `Mesa ${format(figure[mesa])}, Socket.IO ${format(figure['socket.io'])} -> ${figure.ratio.toFixed(2)}x`
  const lines = [
    `requests, ${r.connections} connections x ${r.inFlight} in flight, ${q.slices} slices of ${r.sliceMs} ms per peer interleaved (medians over the slices; ratios: medians over the pairs of neighbouring slices of Mesa / Socket.IO):`,
    `  round trips per second: ${compare(q.perSecond, (v) => v.toFixed(0))} (target at least 1x) ${q.perSecond.ratio >= 1 ? 'met' : 'MISSED'}; Mesa ahead in ${q.slices - q.perSecond.lower} of ${q.slices} pairs`,
    `  p50 latency: ${compare(q.p50, ms)}; Mesa lower in ${q.p50.lower} of ${q.slices} pairs`,
    `  p99 latency: ${compare(q.p99, ms)} (target below 1x) ${q.p99.ratio < 1 ? 'met' : 'MISSED'}; Mesa lower in ${q.p99.lower} of ${q.slices} pairs`,
    `  CPU per round trip: server ${compare(q.serverCpu, µs)}; client ${compare(q.clientCpu, µs)}`,
  ]
  if (acks) {
    lines.push(
      `  acknowledged sends (informative, ${acks.slices} slices interleaved with Socket.IO's emitWithAck again): Mesa send({ ack: true }) per second ${compare(acks.perSecond, (v) => v.toFixed(0), 'mesa-ack')}; p50 ${compare(acks.p50, ms, 'mesa-ack')}; p99 ${compare(acks.p99, ms, 'mesa-ack')}; server CPU ${compare(acks.serverCpu, µs, 'mesa-ack')}`,
    )
  }
  return lines
}
