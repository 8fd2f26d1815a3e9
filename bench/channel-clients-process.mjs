// The channels benchmark's client sockets, in a process of their own so that their CPU time is not counted as
// the servers'. By default the same minimal client for both systems, so that throughput measures the servers and
// not the client libraries: raw `ws` sockets (no compression offered) that speak just enough of each protocol to
// connect, subscribe and stay connected, and count the application frames by a prefix check on their bytes,
// never parsing them:
// - Mesa, protocol 2 (`mesa.v2`): on op 10 sends op 2 with `{ id, channels }` (the bench server subscribes the
//   socket to them server-side), ready on op 22 and one op 31 per channel; answers heartbeats (op 1 -> op 11);
//   counts op 0 frames (a channel publication is an op 0 with `x.ch`);
// - Socket.IO (engine.io 4 over a websocket): on the open packet `0{...}` connects the default namespace with
//   `40{"channels":[...]}` as its auth (the bench server joins the rooms), ready on the `ready` event; answers
//   engine.io pings (`2` -> `3`); counts `NEW_MESSAGE` event packets.
// With `library: true`, each system's own Node client instead, both on their defaults apart from reconnecting:
// `@mesa/client-node` (protocol 2, publications deduplicated by position), `socket.io-client` (websocket
// transport only).
//   {open}     -> opens the sockets of `open` ({ url, id, channels }), answers once every subscription is in place
//   {expect}   -> answers { done } once `expect` publications more have arrived (counted across all sockets)
//   'start'/'stop' -> this process's CPU µs in between (to tell whether the clients held the servers back)
//   'status'   -> deliveries counted, the count awaited, and how many raw sockets closed with each code
//   'close'    -> closes every socket and exits
import WebSocket from '../packages/server/node_modules/ws/wrapper.mjs'
import { io } from 'socket.io-client'
import { Client } from '../packages/client-node/dist/index.js'

const { kind, library } = JSON.parse(process.argv[2])
const OPEN_AT_ONCE = 50
/** Everything with a `disconnect()` or `terminate()` to close. */
const clients = []
let received = 0
let target = Number.POSITIVE_INFINITY
/** Close code -> raw sockets closed with it: one closed mid-run loses deliveries, and a timeout says so. */
const closes = {}

function delivered() {
  if (++received === target) process.send({ done: received })
}

const bytes = (text) => Buffer.from(text)
/** Whether a received frame begins with `prefix` (bytes): the one check a delivery costs. */
const startsWith = (data, prefix) => data.length >= prefix.length && data.compare(prefix, 0, prefix.length, 0, prefix.length) === 0

/** Opens a raw socket; `onFrame(ws, data)` gets every frame but the counted ones and resolves through `ready`. */
function rawSocket(url, protocols, counted, onFrame) {
  const ws = new WebSocket(url, protocols, { perMessageDeflate: false, skipUTF8Validation: true })
  clients.push(ws)
  return new Promise((resolve, reject) => {
    ws.on('error', reject)
    ws.on('close', (code) => {
      closes[code] = (closes[code] ?? 0) + 1
      reject(new Error(`closed with ${code} before it was ready`))
    })
    ws.on('message', (data) => {
      if (startsWith(data, counted)) delivered()
      else onFrame(ws, data, resolve)
    })
  })
}

const MESA = { dispatch: bytes('{"op":0,'), hello: bytes('{"op":10,'), heartbeat: bytes('{"op":1,'), ack: bytes('{"op":22,'), subscribed: bytes('{"op":31,') }

function openRawMesa({ url, id, channels }) {
  let pending = channels.length + 1 // op 22, then op 31 for each channel
  return rawSocket(url, ['mesa.v2'], MESA.dispatch, (ws, data, ready) => {
    if (startsWith(data, MESA.heartbeat)) ws.send('{"op":11,"d":{}}')
    else if (startsWith(data, MESA.hello)) ws.send(JSON.stringify({ op: 2, d: { id, channels } }))
    else if ((startsWith(data, MESA.ack) || startsWith(data, MESA.subscribed)) && --pending === 0) ready()
  })
}

const SOCKET_IO = { event: bytes('42["NEW_MESSAGE"'), open: bytes('0{'), ping: bytes('2'), ready: bytes('42["ready"') }

function openRawSocketIo({ url, channels }) {
  const endpoint = `${url}/socket.io/?EIO=4&transport=websocket`
  return rawSocket(endpoint, [], SOCKET_IO.event, (ws, data, ready) => {
    if (data.length === 1 && startsWith(data, SOCKET_IO.ping)) ws.send('3')
    else if (startsWith(data, SOCKET_IO.open)) ws.send(`40${JSON.stringify({ channels })}`)
    else if (startsWith(data, SOCKET_IO.ready)) ready()
  })
}

function openLibraryMesa({ url, id, channels }) {
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

function openLibrarySocketIo({ url, channels }) {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { channels } })
  clients.push(socket)
  socket.on('NEW_MESSAGE', delivered)
  return new Promise((resolve, reject) => {
    socket.once('ready', resolve)
    socket.once('connect_error', reject)
  })
}

const open = library ? (kind === 'mesa' ? openLibraryMesa : openLibrarySocketIo) : kind === 'mesa' ? openRawMesa : openRawSocketIo
let cpuStart = process.cpuUsage()

process.on('message', async (command) => {
  if (command.open) {
    const sockets = command.open
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
  } else if (command === 'status') {
    process.send({ received, target, closes })
  } else if (command === 'close') {
    for (const client of clients) {
      if (client instanceof WebSocket) client.terminate()
      else client.disconnect()
    }
    process.send({ closed: true })
    process.disconnect()
  }
})
