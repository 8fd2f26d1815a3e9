// The channels benchmark's client sockets, in a process of their own so that their CPU time is not counted as
// the servers'. Each system gets its own Node client, both on their defaults apart from reconnecting:
// `@mesa/client-node` (protocol 2, publications deduplicated by position) for Mesa, `socket.io-client` with the
// websocket transport only for Socket.IO. Every socket presents the channels it is to be subscribed to, and the
// server subscribes it (Mesa's `client.subscribe`, Socket.IO's `socket.join`).
//   'open'     -> opens `sockets` ({ url, id, channels }), answers once every subscription is in place
//   {expect}   -> answers { done } once `expect` publications more have arrived (counted across all sockets)
//   'start'/'stop' -> this process's CPU µs in between (to tell whether the clients held the servers back)
//   'close'    -> closes every socket and exits
import { io } from 'socket.io-client'
import { Client } from '../packages/client-node/dist/index.js'

const { kind, sockets } = JSON.parse(process.argv[2])
const OPEN_AT_ONCE = 50
const clients = []
let received = 0
let target = Number.POSITIVE_INFINITY

function delivered() {
  if (++received === target) process.send({ done: received })
}

function openMesa({ url, id, channels }) {
  const client = new Client(url, { reconnect: false })
  clients.push(client)
  let subscribed = 0
  return new Promise((resolve, reject) => {
    client.on('subscription', (subscription) => {
      subscription.on('message', delivered)
      subscription.once('subscribed', () => {
        if (++subscribed === channels.length) resolve()
      })
      subscription.on('error', reject)
    })
    client.authenticate({ id, channels }).catch(reject)
  })
}

function openSocketIo({ url, channels }) {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { channels } })
  clients.push(socket)
  socket.on('NEW_MESSAGE', delivered)
  return new Promise((resolve, reject) => {
    socket.once('ready', resolve)
    socket.once('connect_error', reject)
  })
}

const open = kind === 'mesa' ? openMesa : openSocketIo
let cpuStart = process.cpuUsage()

process.on('message', async (command) => {
  if (command === 'open') {
    for (let i = 0; i < sockets.length; i += OPEN_AT_ONCE) await Promise.all(sockets.slice(i, i + OPEN_AT_ONCE).map(open))
    process.send({ opened: clients.length })
  } else if (command.expect !== undefined) {
    target = received + command.expect
  } else if (command === 'start') {
    cpuStart = process.cpuUsage()
    process.send({ started: true })
  } else if (command === 'stop') {
    const cpu = process.cpuUsage(cpuStart)
    process.send({ cpuMicros: cpu.user + cpu.system, received })
  } else if (command === 'close') {
    for (const client of clients) client.disconnect()
    process.send({ closed: true })
    process.disconnect()
  }
})
