// Channels across servers (issue 11): Mesa channels against Socket.IO 4.8 rooms with `@socket.io/redis-adapter`,
// in one run, on the same Redis and the same layouts.
//
// Two layouts, each printed as a block: "small rooms" (200 channels, 10 subscribers per channel on each server
// serving it) and "large rooms" (40 channels, 100 subscribers per channel per server). For each, each system gets
// `SERVERS` server processes (bench/channel-server-process.mjs) on the shared Redis under a namespace of its own,
// and one client process (bench/channel-clients-process.mjs) holding every socket.
// Fairness:
// - the same channels, the same sockets on the same servers subscribed to the same channels, the same messages
//   published from the same servers in the same batches;
// - the same client for both systems: raw `ws` sockets speaking each protocol minimally and counting deliveries
//   by a prefix check on the frame's bytes, so that the one client process (which shares the machine with the
//   servers) costs as little as it can and the same per frame received: deliveries per second then measure the
//   servers, not the client libraries (`BENCH_CHANNEL_CLIENTS=library`: each system's own Node client instead);
// - Mesa on its defaults (heartbeats on, publications stored once in their channel's stream: its history and
//   resume guarantee, which Socket.IO does not give; BENCH_CHANNEL_HISTORY=off measures Mesa without it),
//   Socket.IO on its defaults but for the websocket-only transport the clients use;
// - every publication has subscribers on a server other than its publisher's: "shared" channels have
//   subscribers on every server and are published from server `c % SERVERS`; "local" channels have all their
//   subscribers on server `c % SERVERS` (their home) and are published from the next server, so both systems
//   must carry every publication through Redis;
// - server CPU is the servers' own `process.cpuUsage()` from the first publication until the clients counted
//   the last delivery. Not counted but reported apart: the client process's CPU, and the Redis server's (its
//   `INFO cpu`, which on a shared Redis includes other users' commands), to which Mesa gives more to do: it
//   stores each publication. Deliveries per second are deliveries over that wall time;
// - the systems are measured in alternating rounds on the same live setups, after `WARM_UP_ROUNDS` unmeasured
//   rounds each, and each figure is the median of the rounds, each ratio the median of the rounds' ratios (the
//   machine is shared: a load spike hits one round). Rounds are long enough to measure throughput rather than a
//   burst: 100 publications per channel, about 0.6 s of Mesa (20 gave about 150 ms, in which one major GC, or
//   the pipeline filling and draining, moved a round's figure by up to 1.9x); and warm-up is as long as a round
//   (with 2 publications per channel, both systems' first measured rounds still cost 1.4x-1.8x the later ones).
// The bytes each server reads for channels it does not serve are the pub/sub messages (channel name and payload
// bytes, as ioredis hands them over) its Redis subscriber connection receives for channels no socket of that
// server subscribed to; "in all" is that connection's socket's `bytesRead` over the round.
// Environment: BENCH_CHANNELS, BENCH_LOCAL_CHANNELS, BENCH_CHANNEL_SUBSCRIBERS, BENCH_CHANNEL_SOCKETS (any of them:
// one layout, the small rooms' with these changes), BENCH_CHANNEL_PUBLICATIONS (per channel and round),
// BENCH_CHANNEL_ROUNDS, BENCH_CHANNEL_SERVERS, BENCH_CHANNEL_CLIENTS, BENCH_CHANNEL_HISTORY, BENCH_CHANNEL_PROFILE (below),
// BENCH_REDIS.
import { once } from 'node:events'
import { fork } from 'node:child_process'
import { Redis } from 'ioredis'
import { ask, median } from './support.mjs'

const REDIS = process.env.BENCH_REDIS ?? 'redis://127.0.0.1:6379'
const SERVERS = Number(process.env.BENCH_CHANNEL_SERVERS ?? 2)
/** `library`: each system's own Node client instead of the same raw one (bench/channel-clients-process.mjs). */
const LIBRARY_CLIENTS = process.env.BENCH_CHANNEL_CLIENTS === 'library'
/**
 * The layouts measured, each printed as a block. `localChannels` of `channels` have all their subscribers on
 * one server; `subscribersPerServer` is a channel's subscribers on each server serving it (a local channel has
 * them all on its home).
 */
const LAYOUTS = [
  { name: 'small rooms', channels: 200, localChannels: 50, subscribersPerServer: 10, socketsPerServer: 200, publications: 100 },
  { name: 'large rooms', channels: 40, localChannels: 10, subscribersPerServer: 100, socketsPerServer: 200, publications: 100 },
]
/** Any of these set: one layout, the small rooms' with these changes. */
const SHAPE = {
  channels: process.env.BENCH_CHANNELS,
  localChannels: process.env.BENCH_LOCAL_CHANNELS,
  subscribersPerServer: process.env.BENCH_CHANNEL_SUBSCRIBERS,
  socketsPerServer: process.env.BENCH_CHANNEL_SOCKETS,
}
const PUBLICATIONS = process.env.BENCH_CHANNEL_PUBLICATIONS
const ROUNDS = Number(process.env.BENCH_CHANNEL_ROUNDS ?? 5)
/** Unmeasured rounds of each system, of the measured size, before the measured ones: the JIT settles. */
const WARM_UP_ROUNDS = 3
/** `off`: Mesa's channels keep no history (its default keeps it), as Socket.IO rooms keep none. */
const HISTORY = process.env.BENCH_CHANNEL_HISTORY !== 'off'
/** A folder: each server process writes there a V8 CPU profile of each measured round (`<kind>-<pid>-<n>.cpuprofile`). */
const PROFILE_DIR = process.env.BENCH_CHANNEL_PROFILE
/** Publications per event-loop tick of a publishing server. */
const BATCH = 50
/** Wait after the last delivery for pub/sub messages of unserved channels still on their way. */
const SETTLE_MS = 300

/** The layouts to run: the default two, or one shaped by the environment; publications may be set for all. */
function layouts() {
  const shape = Object.fromEntries(Object.entries(SHAPE).filter(([, value]) => value !== undefined).map(([key, value]) => [key, Number(value)]))
  const chosen = Object.keys(shape).length > 0 ? [{ ...LAYOUTS[0], name: 'custom', ...shape }] : LAYOUTS
  return chosen.map((layout) => (PUBLICATIONS === undefined ? layout : { ...layout, publications: Number(PUBLICATIONS) }))
}

/** Who subscribes to what, who publishes what (the same for both systems), and `perPass`: deliveries when every channel publishes once. */
function plan({ channels, localChannels, subscribersPerServer, socketsPerServer }) {
  if (subscribersPerServer * SERVERS > socketsPerServer) throw new Error('a local channel needs more subscribers than its server has sockets')
  const sockets = Array.from({ length: SERVERS }, (_, server) =>
    Array.from({ length: socketsPerServer }, (_, i) => ({ id: `s${server}-${i}`, channels: [] })),
  )
  const publishers = Array.from({ length: SERVERS }, () => [])
  const next = Array(SERVERS).fill(0)
  const subscribe = (server, channel, count) => {
    for (let i = 0; i < count; i++) sockets[server][next[server]++ % socketsPerServer].channels.push(channel)
  }
  for (let c = 0; c < channels; c++) {
    const channel = `bench:${c}`
    const home = c % SERVERS
    if (c < channels - localChannels) {
      for (let server = 0; server < SERVERS; server++) subscribe(server, channel, subscribersPerServer)
      publishers[home].push(channel)
    } else {
      subscribe(home, channel, subscribersPerServer * SERVERS)
      publishers[(home + 1) % SERVERS].push(channel)
    }
  }
  return { sockets, publishers, perPass: channels * subscribersPerServer * SERVERS }
}

async function startSystem(kind, plan) {
  const namespace = `bench-channels-${kind === 'mesa' ? 'mesa' : 'sio'}-${process.pid}-${Date.now()}`
  const servers = Array.from({ length: SERVERS }, () =>
    fork(new URL('./channel-server-process.mjs', import.meta.url), [JSON.stringify({ kind, namespace, redis: REDIS, profile: PROFILE_DIR, history: HISTORY })]),
  )
  const ports = await Promise.all(servers.map((server) => ask(server).then(({ port }) => port)))
  const sockets = plan.sockets.flatMap((list, server) => list.map((socket) => ({ ...socket, url: `ws://127.0.0.1:${ports[server]}` })))
  const clients = fork(new URL('./channel-clients-process.mjs', import.meta.url), [JSON.stringify({ kind, library: LIBRARY_CLIENTS })])
  // The sockets go over IPC: a large layout's list is beyond what a command line may hold (E2BIG).
  await ask(clients, { open: sockets })
  return { kind, namespace, servers, clients, rounds: [] }
}

/** Publishes `count` messages on every channel from its publisher; resolves once the clients got them all. */
async function publishAll(system, plan, count, data) {
  const expected = count * plan.perPass
  const done = ask(system.clients, { expect: expected })
  const published = system.servers.map((server, i) =>
    ask(server, { publish: { channels: plan.publishers[i], count, batch: BATCH, data } }),
  )
  let deadline
  const late = new Promise((_, reject) => {
    deadline = setTimeout(async () => {
      const { received, target, closes } = await ask(system.clients, 'status')
      const closed = JSON.stringify(closes)
      reject(new Error(`${system.kind}: not every publication arrived within 120 s: ${received} of ${target} counted; sockets closed by code: ${closed}`))
    }, 120_000)
  })
  await Promise.race([done, late]).finally(() => clearTimeout(deadline))
  await Promise.all(published)
  return expected
}

/** CPU µs the Redis server process has used (user + system), as its `INFO cpu` reports it. */
async function redisCpuMicros(redis) {
  const info = await redis.info('cpu')
  const seconds = (field) => Number(info.match(new RegExp(`^${field}:([\\d.]+)`, 'm'))[1])
  return Math.round((seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6)
}

async function measuredRound(system, plan, publications, data, redis) {
  const redisStart = await redisCpuMicros(redis)
  await Promise.all([...system.servers, system.clients].map((child) => ask(child, 'start')))
  const wallStart = performance.now()
  const deliveries = await publishAll(system, plan, publications, data)
  const wallMs = performance.now() - wallStart
  const servers = await Promise.all(system.servers.map((server) => ask(server, 'stop')))
  const redisMicros = (await redisCpuMicros(redis)) - redisStart
  const clients = await ask(system.clients, 'stop')
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
  const bytes = await Promise.all(system.servers.map((server) => ask(server, 'bytes')))
  const serverMicros = servers.reduce((total, { cpuMicros }) => total + cpuMicros, 0)
  system.rounds.push({
    deliveriesPerSecond: deliveries / (wallMs / 1000),
    cpuPerDelivery: serverMicros / deliveries,
    clientCpuPerDelivery: clients.cpuMicros / deliveries,
    redisCpuPerDelivery: redisMicros / deliveries,
    unservedBytes: bytes.map(({ unservedBytes }) => unservedBytes),
    unservedMessages: bytes.map(({ unservedMessages }) => unservedMessages),
    bytesRead: bytes.map(({ bytesRead }) => bytesRead),
  })
}

async function stopSystem(system) {
  await ask(system.clients, 'close')
  await Promise.all(system.servers.map((server) => ask(server, 'close')))
  await Promise.all([system.clients, ...system.servers].map((child) => (child.exitCode === null ? once(child, 'exit') : undefined)))
}

/** Deletes what the Mesa run stored under its namespace (the Redis is shared: nothing else is touched). */
async function dropNamespace(namespace) {
  const redis = new Redis(REDIS)
  let cursor = '0'
  do {
    const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `mesa:${namespace}:*`, 'COUNT', 1000)
    if (keys.length > 0) await redis.unlink(...keys)
    cursor = nextCursor
  } while (cursor !== '0')
  redis.disconnect()
}

/** The figures of one system: medians over its rounds, bytes from its last round. */
function summary(system) {
  const last = system.rounds.at(-1)
  const of = (figure) => median(system.rounds.map((round) => round[figure]))
  return {
    deliveriesPerSecond: of('deliveriesPerSecond'),
    cpuPerDelivery: of('cpuPerDelivery'),
    clientCpuPerDelivery: of('clientCpuPerDelivery'),
    redisCpuPerDelivery: of('redisCpuPerDelivery'),
    unservedBytes: last.unservedBytes,
    unservedMessages: last.unservedMessages,
    bytesRead: last.bytesRead,
  }
}

/** The median over rounds of Mesa's figure against Socket.IO's of the same round (run next to it). */
function pairedRatio(mesa, socketIo, figure, better) {
  return median(mesa.rounds.map((round, i) => better(round[figure], socketIo.rounds[i][figure])))
}

/** Measures one layout: both systems on it, alternating rounds. Returns its block of lines. */
async function layoutBench(layout, data, redis) {
  const setup = plan(layout)
  const socketIo = await startSystem('socket.io', setup)
  const mesa = await startSystem('mesa', setup)
  try {
    for (let round = 0; round < WARM_UP_ROUNDS; round++) {
      for (const system of [socketIo, mesa]) await publishAll(system, setup, layout.publications, data)
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const system of round % 2 ? [mesa, socketIo] : [socketIo, mesa]) await measuredRound(system, setup, layout.publications, data, redis)
    }
  } finally {
    await stopSystem(socketIo)
    await stopSystem(mesa)
    await dropNamespace(mesa.namespace)
  }
  const [s, m] = [summary(socketIo), summary(mesa)]
  const faster = pairedRatio(mesa, socketIo, 'deliveriesPerSecond', (own, peer) => own / peer)
  const cheaper = pairedRatio(mesa, socketIo, 'cpuPerDelivery', (own, peer) => peer / own)
  const { name, channels, localChannels, subscribersPerServer, socketsPerServer, publications } = layout
  const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`
  const perServer = (values, format) => values.map(format).join(' / ')
  const clients = `${LIBRARY_CLIENTS ? "each system's own Node client" : 'the same raw ws clients'}${HISTORY ? '' : ', Mesa without channel history'}`
  return [
    `channels, ${name}: ${SERVERS} servers on one Redis, ${channels} channels (${localChannels} with subscribers on one server only) x ${publications} publications, ${subscribersPerServer} subscribers per channel per server serving it, ${socketsPerServer} sockets per server, ${clients}: ${publications * setup.perPass} deliveries per round, medians of ${ROUNDS} alternating rounds after ${WARM_UP_ROUNDS} unmeasured ones each (ratios: median of the rounds' ratios)`,
    `channels, ${name}: deliveries per second Socket.IO ${s.deliveriesPerSecond.toFixed(0)}, Mesa ${m.deliveriesPerSecond.toFixed(0)} -> Mesa ${faster.toFixed(2)}x (target at least 3x)`,
    `channels, ${name}: server CPU per delivery (all servers) Socket.IO ${s.cpuPerDelivery.toFixed(2)} µs, Mesa ${m.cpuPerDelivery.toFixed(2)} µs -> Mesa ${cheaper.toFixed(2)}x cheaper (target at least 3x); not counted: client process CPU per delivery Socket.IO ${s.clientCpuPerDelivery.toFixed(2)} µs, Mesa ${m.clientCpuPerDelivery.toFixed(2)} µs; Redis CPU per delivery (the whole Redis server, other users of a shared Redis included) Socket.IO ${s.redisCpuPerDelivery.toFixed(2)} µs, Mesa ${m.redisCpuPerDelivery.toFixed(2)} µs`,
    `channels, ${name}: bytes each server read from Redis for channels it does not serve (server 0 / 1 ...): Socket.IO ${perServer(s.unservedBytes, kib)} (${perServer(s.unservedMessages, String)} messages), Mesa ${perServer(m.unservedBytes, kib)} (${perServer(m.unservedMessages, String)} messages) (target: none); pub/sub bytes read in all: Socket.IO ${perServer(s.bytesRead, kib)}, Mesa ${perServer(m.bytesRead, kib)}`,
  ]
}

/** Runs the comparison on each layout; `data` is the published message's data. Returns the lines to print. */
export async function channelsBench(data) {
  const redis = new Redis(REDIS)
  const lines = []
  try {
    for (const layout of layouts()) lines.push(...(await layoutBench(layout, data, redis)))
  } finally {
    redis.disconnect()
  }
  return lines
}
