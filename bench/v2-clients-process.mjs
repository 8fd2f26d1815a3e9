// Opens `count` protocol 2 sockets that authenticate as u0, u1, ...; answers heartbeats; for memory measurements.
import WebSocket from '../packages/server/node_modules/ws/wrapper.mjs'

const { url, count } = JSON.parse(process.argv[2])
const sockets = []

function open(index) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['mesa.v2'])
    sockets.push(ws)
    ws.on('error', reject)
    ws.on('message', (data) => {
      const text = data.toString()
      if (text.startsWith('{"op":22')) resolve()
      else if (text.startsWith('{"op":10')) ws.send(JSON.stringify({ op: 2, d: { id: `u${index}` } }))
      else if (text.startsWith('{"op":1,')) ws.send('{"op":11,"d":{}}')
    })
  })
}

process.on('message', async (command) => {
  if (command === 'open') {
    for (let i = 0; i < count; i += 100) await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, j) => open(i + j)))
    process.send('opened')
  } else if (command === 'close') {
    for (const ws of sockets) ws.terminate()
    process.send('closed')
    process.disconnect()
  }
})
