// Channels across servers (issue 11): Mesa channels against Socket.IO 4.8 rooms with `@socket.io/redis-adapter`,
// in one run, on the same Redis and the same layout.
//
// Each system gets `SERVERS` server processes (bench/channel-server-process.mjs) on the shared Redis under a
// namespace of its own, and one client process (bench/channel-clients-process.mjs) holding every socket.
// Fairness:
// - the same channels, the same sockets on the same servers subscribed to the same channels, the same messages
//   published from the same servers in the same batches; each system with its own Node client;
// - Mesa on its defaults (heartbeats on, publications stored once in their channel's stream: its history and
//   resume guarantee, which Socket.IO does not give), Socket.IO on its defaults but for the websocket-only
//   transport the clients use;
// - every publication has subscribers on a server other than its publisher's: "shared" channels have
//   subscribers on every server and are published from server `c % SERVERS`; "local" channels have all their
//   subscribers on server `c % SERVERS` (their home) and are published from the next server, so both systems
//   must carry every publication through Redis;
// - server CPU is the servers' own `process.cpuUsage()` from the first publication until the clients counted
//   the last delivery (client CPU is in its own process and reported apart); deliveries per second are
//   deliveries over that wall time;
// - the systems are measured in alternating rounds on the same live setups, after a warm-up round each, and
//   each figure is the median of the rounds, each ratio the median of the rounds' ratios (the machine is
//   shared: a load spike hits one round).
// The bytes each server reads for channels it does not serve are the pub/sub messages (channel name and payload
// bytes, as ioredis hands them over) its Redis subscriber connection receives for channels no socket of that
// server subscribed to; "in all" is that connection's socket's `bytesRead` over the round.
import { once } from 'node:events'
import { fork } from 'node:child_process'
import { Redis } from 'ioredis'

const REDIS = process.env.BENCH_REDIS ?? 'redis://127.0.0.1:6379'
const SERVERS = Number(process.env.BENCH_CHANNEL_SERVERS ?? 2)
const CHANNELS = Number(process.env.BENCH_CHANNELS ?? 200)
/** Of `CHANNELS`, those whose subscribers are all on one server. */
const LOCAL_CHANNELS = Number(process.env.BENCH_LOCAL_CHANNELS ?? 50)
const SOCKETS_PER_SERVER = Number(process.env.BENCH_CHANNEL_SOCKETS ?? 200)
/** Subscribers of a channel on each server serving it (a local channel has them all on its home). */
const SUBSCRIBERS_PER_SERVER = Number(process.env.BENCH_CHANNEL_SUBSCRIBERS ?? 10)
const PUBLICATIONS = Number(process.env.BENCH_CHANNEL_PUBLICATIONS ?? 20)
const ROUNDS = Number(process.env.BENCH_CHANNEL_ROUNDS ?? 5)
/** A folder: each server process writes there a V8 CPU profile of each measured round (`<kind>-<pid>-<n>.cpuprofile`). */
const PROFILE_DIR = process.env.BENCH_CHANNEL_PROFILE
/** Publications per event-loop tick of a publishing server. */
const BATCH = 50
/** Wait after the last delivery for pub/sub messages of unserved channels still on their way. */
const SETTLE_MS = 300

function ask(child, command) {
  const reply = once(child, 'message').then(([message]) => message)
  if (command !== undefined) child.send(command)
  return reply
}

/** Who subscribes to what, and who publishes what: the same for both systems. */
function layout() {
  const sockets = Array.from({ length: SERVERS }, (_, server) =>
    Array.from({ length: SOCKETS_PER_SERVER }, (_, i) => ({ id: `s${server}-${i}`, channels: [] })),
  )
  const publishers = Array.from({ length: SERVERS }, () => [])
  const next = Array(SERVERS).fill(0)
  const subscribe = (server, channel, count) => {
    for (let i = 0; i < count; i++) sockets[server][next[server]++ % SOCKETS_PER_SERVER].channels.push(channel)
  }
  for (let c = 0; c < CHANNELS; c++) {
    const channel = `bench:${c}`
    const home = c % SERVERS
    if (c < CHANNELS - LOCAL_CHANNELS) {
      for (let server = 0; server < SERVERS; server++) subscribe(server, channel, SUBSCRIBERS_PER_SERVER)
      publishers[home].push(channel)
    } else {
      subscribe(home, channel, SUBSCRIBERS_PER_SERVER * SERVERS)
      publishers[(home + 1) % SERVERS].push(channel)
    }
  }
  return { sockets, publishers, perPublication: SUBSCRIBERS_PER_SERVER * SERVERS }
}

async function startSystem(kind, plan) {
  const namespace = `bench-channels-${kind === 'mesa' ? 'mesa' : 'sio'}-${process.pid}-${Date.now()}`
  const servers = Array.from({ length: SERVERS }, () =>
    fork(new URL('./channel-server-process.mjs', import.meta.url), [JSON.stringify({ kind, namespace, redis: REDIS, profile: PROFILE_DIR })]),
  )
  const ports = await Promise.all(servers.map((server) => ask(server).then(({ port }) => port)))
  const sockets = plan.sockets.flatMap((list, server) => list.map((socket) => ({ ...socket, url: `ws://127.0.0.1:${ports[server]}` })))
  const clients = fork(new URL('./channel-clients-process.mjs', import.meta.url), [JSON.stringify({ kind, sockets })])
  await ask(clients, 'open')
  return { kind, namespace, servers, clients, rounds: [] }
}

/** Publishes `count` messages on every channel from its publisher; resolves once the clients got them all. */
async function publishAll(system, plan, count, data) {
  const expected = count * CHANNELS * plan.perPublication
  const done = ask(system.clients, { expect: expected })
  const published = system.servers.map((server, i) =>
    ask(server, { publish: { channels: plan.publishers[i], count, batch: BATCH, data } }),
  )
  let deadline
  const late = new Promise((_, reject) => {
    deadline = setTimeout(() => reject(new Error(`${system.kind}: not every publication arrived within 120 s`)), 120_000)
  })
  await Promise.race([done, late]).finally(() => clearTimeout(deadline))
  await Promise.all(published)
  return expected
}

async function measuredRound(system, plan, data) {
  await Promise.all([...system.servers, system.clients].map((child) => ask(child, 'start')))
  const wallStart = performance.now()
  const deliveries = await publishAll(system, plan, PUBLICATIONS, data)
  const wallMs = performance.now() - wallStart
  const servers = await Promise.all(system.servers.map((server) => ask(server, 'stop')))
  const clients = await ask(system.clients, 'stop')
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
  const bytes = await Promise.all(system.servers.map((server) => ask(server, 'bytes')))
  const serverMicros = servers.reduce((total, { cpuMicros }) => total + cpuMicros, 0)
  system.rounds.push({
    deliveriesPerSecond: deliveries / (wallMs / 1000),
    cpuPerDelivery: serverMicros / deliveries,
    clientCpuPerDelivery: clients.cpuMicros / deliveries,
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

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

/** The figures of one system: medians over its rounds, bytes from its last round. */
function summary(system) {
  const last = system.rounds.at(-1)
  const of = (figure) => median(system.rounds.map((round) => round[figure]))
  return {
    deliveriesPerSecond: of('deliveriesPerSecond'),
    cpuPerDelivery: of('cpuPerDelivery'),
    clientCpuPerDelivery: of('clientCpuPerDelivery'),
    unservedBytes: last.unservedBytes,
    unservedMessages: last.unservedMessages,
    bytesRead: last.bytesRead,
  }
}

/** The median over rounds of Mesa's figure against Socket.IO's of the same round (run next to it). */
function pairedRatio(mesa, socketIo, figure, better) {
  return median(mesa.rounds.map((round, i) => better(round[figure], socketIo.rounds[i][figure])))
}

/** Runs the comparison; `data` is the published message's data. Returns the lines to print. */
export async function channelsBench(data) {
  const plan = layout()
  const socketIo = await startSystem('socket.io', plan)
  const mesa = await startSystem('mesa', plan)
  try {
    for (const system of [socketIo, mesa]) await publishAll(system, plan, 2, data) // warm-up, not measured
    for (let round = 0; round < ROUNDS; round++) {
      for (const system of round % 2 ? [mesa, socketIo] : [socketIo, mesa]) await measuredRound(system, plan, data)
    }
  } finally {
    await stopSystem(socketIo)
    await stopSystem(mesa)
    await dropNamespace(mesa.namespace)
  }
  const [s, m] = [summary(socketIo), summary(mesa)]
  const faster = pairedRatio(mesa, socketIo, 'deliveriesPerSecond', (own, peer) => own / peer)
  const cheaper = pairedRatio(mesa, socketIo, 'cpuPerDelivery', (own, peer) => peer / own)
  const deliveries = PUBLICATIONS * CHANNELS * plan.perPublication
  const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`
  const perServer = (values, format) => values.map(format).join(' / ')
  return [
    `channels: ${SERVERS} servers on one Redis, ${CHANNELS} channels (${LOCAL_CHANNELS} with subscribers on one server only) x ${PUBLICATIONS} publications, ${SUBSCRIBERS_PER_SERVER} subscribers per channel per server serving it, ${SOCKETS_PER_SERVER} sockets per server: ${deliveries} deliveries per round, medians of ${ROUNDS} alternating rounds (ratios: median of the rounds' ratios)`,
    `channels: deliveries per second Socket.IO ${s.deliveriesPerSecond.toFixed(0)}, Mesa ${m.deliveriesPerSecond.toFixed(0)} -> Mesa ${faster.toFixed(2)}x (target at least 3x)`,
    `channels: server CPU per delivery (all servers) Socket.IO ${s.cpuPerDelivery.toFixed(2)} µs, Mesa ${m.cpuPerDelivery.toFixed(2)} µs -> Mesa ${cheaper.toFixed(2)}x cheaper (target at least 3x); client process CPU per delivery Socket.IO ${s.clientCpuPerDelivery.toFixed(2)} µs, Mesa ${m.clientCpuPerDelivery.toFixed(2)} µs (not counted)`,
    `channels: bytes each server read from Redis for channels it does not serve (server 0 / 1 ...): Socket.IO ${perServer(s.unservedBytes, kib)} (${perServer(s.unservedMessages, String)} messages), Mesa ${perServer(m.unservedBytes, kib)} (${perServer(m.unservedMessages, String)} messages) (target: none); pub/sub bytes read in all: Socket.IO ${perServer(s.bytesRead, kib)}, Mesa ${perServer(m.bytesRead, kib)}`,
  ]
}
