// One server of the channels benchmark, in its own process so that its CPU time is its own: a Mesa server
// (`kind: 'mesa'`) or a Socket.IO 4.8 server with `@socket.io/redis-adapter` (`kind: 'socket.io'`), on the
// shared Redis under the run's own namespace. Driven over IPC by bench/channels.mjs:
//   'start'   -> zeroes the counters: CPU time, bytes read by the Redis pub/sub connection
//   {publish} -> publishes `count` messages of `data` on each of `channels`, `batch` per event-loop tick
//   'stop'    -> this process's CPU µs since 'start' (user + system)
//   'bytes'   -> bytes the pub/sub connection read since 'start': in all, and for channels served by no socket here
//   'close'   -> closes the server and exits
// With `profile` (a folder), the CPU profile of each 'start'-'stop' span is written there.
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { Session } from 'node:inspector/promises'
import { Redis } from 'ioredis'
import { createAdapter } from '@socket.io/redis-adapter'
import { Server } from 'socket.io'
import { Message } from '../packages/core/dist/index.js'
import { Mesa } from '../packages/server/dist/index.js'

const { kind, namespace, redis, profile, history } = JSON.parse(process.argv[2])

/** The channels some socket of this server subscribed to. */
const served = new Set()

/**
 * A Mesa server on its defaults, but for the Redis adapter: sockets subscribe server-side, like `socket.join`.
 * `history: false` (BENCH_CHANNEL_HISTORY=off): no channel keeps history, as Socket.IO rooms keep none.
 */
async function mesaServer() {
  const channels = history ? {} : { channels: { rules: { '': { history: false } } } }
  const mesa = new Mesa({ port: 0, redis, namespace, ...channels })
  mesa.on('connection', (client) => client.authenticate((data, done) => done(null, { id: data.id, user: { channels: data.channels } })))
  mesa.use(() => ({
    onAuthenticated(client) {
      for (const channel of client.user.channels) {
        served.add(channel)
        void client.subscribe(channel)
      }
    },
  }))
  await mesa.listening()
  // The adapter's pub/sub connection (a private field: the benchmark reads its socket, nothing else). Its
  // Redis channel of a Mesa channel is `mesa:<namespace>:ch:{<namespace>:ch:<channel>}` (keys.ts).
  const subscriber = mesa.adapter.subscriber.client
  const prefix = `mesa:${namespace}:ch:{${namespace}:ch:`
  return {
    port: mesa.port,
    subscriber,
    channelOf: (redisChannel) => (redisChannel.startsWith(prefix) ? redisChannel.slice(prefix.length, -1) : undefined),
    publish: (channel, message) => mesa.publish(channel, message),
    close: () => mesa.close(),
  }
}

/**
 * Socket.IO on its defaults with the websocket transport only (what the clients use), and the Redis adapter
 * (`createAdapter`: one pattern subscription, every node gets every broadcast; its Redis channel of a
 * single-room broadcast is `<key>#/#<room>#`).
 */
async function socketIoServer() {
  const http = createServer()
  const io = new Server(http, { transports: ['websocket'] })
  const pub = new Redis(redis)
  const subscriber = pub.duplicate()
  io.adapter(createAdapter(pub, subscriber, { key: namespace }))
  io.on('connection', (socket) => {
    const { channels } = socket.handshake.auth
    for (const channel of channels) served.add(channel)
    socket.join(channels)
    socket.emit('ready')
  })
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  const prefix = `${namespace}#/#`
  // The adapter's PSUBSCRIBE is confirmed asynchronously: wait for it, or the first publications could be missed.
  while ((await pub.pubsub('NUMPAT')) < 1) await new Promise((resolve) => setTimeout(resolve, 10))
  return {
    port: http.address().port,
    subscriber,
    channelOf: (redisChannel) => (redisChannel.startsWith(prefix) ? redisChannel.slice(prefix.length, -1) || undefined : undefined),
    publish: (channel, message) => io.to(channel).emit(message.type, message.data),
    async close() {
      io.close()
      pub.disconnect()
      subscriber.disconnect()
    },
  }
}

const server = kind === 'mesa' ? await mesaServer() : await socketIoServer()

let cpuStart = process.cpuUsage()
let bytesStart = 0
let unservedBytes = 0
let unservedMessages = 0
/** Bytes of a pub/sub message for a channel nobody here subscribed to: its channel name and its payload. */
function count(redisChannel, message) {
  const channel = server.channelOf(redisChannel.toString())
  if (channel === undefined || served.has(channel)) return
  unservedBytes += redisChannel.length + message.length
  unservedMessages++
}
server.subscriber.on('messageBuffer', count)
server.subscriber.on('pmessageBuffer', (_pattern, redisChannel, message) => count(redisChannel, message))

async function publish({ channels, count, batch, data }) {
  const message = new Message(0, data, 'NEW_MESSAGE')
  const pending = []
  let inTick = 0
  for (let i = 0; i < count; i++) {
    for (const channel of channels) {
      pending.push(server.publish(channel, message))
      if (++inTick === batch) {
        inTick = 0
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
  }
  await Promise.all(pending)
}

const profiler = profile ? new Session() : undefined
let profiles = 0
profiler?.connect()
await profiler?.post('Profiler.enable')

process.on('message', async (command) => {
  if (command === 'start') {
    await profiler?.post('Profiler.start')
    cpuStart = process.cpuUsage()
    bytesStart = server.subscriber.stream.bytesRead
    unservedBytes = 0
    unservedMessages = 0
    process.send({ started: true })
  } else if (command.publish) {
    await publish(command.publish)
    process.send({ published: true })
  } else if (command === 'stop') {
    const cpu = process.cpuUsage(cpuStart)
    if (profiler) {
      const { profile: taken } = await profiler.post('Profiler.stop')
      writeFileSync(`${profile}/${kind}-${process.pid}-${++profiles}.cpuprofile`, JSON.stringify(taken))
    }
    process.send({ cpuMicros: cpu.user + cpu.system })
  } else if (command === 'bytes') {
    process.send({ bytesRead: server.subscriber.stream.bytesRead - bytesStart, unservedBytes, unservedMessages })
  } else if (command === 'close') {
    await server.close()
    process.send({ closed: true })
    process.disconnect()
  }
})

process.send({ port: server.port })
