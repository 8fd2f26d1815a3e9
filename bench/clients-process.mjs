// Opens the benchmark's client sockets in a child process, so their CPU time is not counted as the server's.
import WebSocket from '../packages/server/node_modules/ws/wrapper.mjs'

const { url, count, authenticate } = JSON.parse(process.argv[2])
const parentPort = { postMessage: (m) => process.send(m) }
let received = 0
const sockets = []

function open(index) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.on('error', reject)
    ws.on('message', (data) => {
      const text = data.toString()
      // Count application messages only; answer nothing else (heartbeats are off in the benchmark).
      if (text.startsWith('{"op":0')) received++
      else if (text.startsWith('{"op":22')) resolve()
      else if (text.startsWith('{"op":10') && !authenticate) resolve()
    })
    ws.on('open', () => {
      sockets.push(ws)
      if (authenticate) ws.send(JSON.stringify({ op: 2, d: { id: `u${index}`, shouldSync: false } }))
      else if (url.includes('baseline')) resolve()
    })
  })
}

process.on('message', async (command) => {
  if (command === 'open') {
    for (let i = 0; i < count; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, j) => open(i + j)))
    }
    parentPort.postMessage({ opened: sockets.length })
  } else if (command === 'count') {
    parentPort.postMessage({ received })
  } else if (typeof command === 'object' && command.send) {
    // Every socket sends `perSocket` copies of `frame`, one round of all sockets at a time.
    const { perSocket, frame } = command.send
    for (let i = 0; i < perSocket; i++) {
      for (const ws of sockets) ws.send(frame)
      if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve))
    }
    parentPort.postMessage({ sent: perSocket * sockets.length })
  } else if (command === 'close') {
    for (const ws of sockets) ws.terminate()
    parentPort.postMessage({ closed: true })
    process.disconnect()
  }
})
