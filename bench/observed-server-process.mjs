// One server of the observability comparison (bench/observability.mjs), in its own process so that its CPU time
// is its own, scrapes and log writes included: a Mesa server on its defaults as `pnpm bench`'s broadcast runs
// it, with `observed` also @mesa/server/metrics scraped every 250 ms and a pino logger. Driven over IPC:
//   'start'        -> zeroes its CPU count
//   {broadcast: n} -> broadcasts n messages to every socket, 20 per event-loop tick
//   'stop'         -> its CPU µs since 'start' (user + system)
//   'close'        -> closes the server and exits
import { Message } from '../packages/core/dist/index.js'
import { Mesa } from '../packages/server/dist/index.js'
import { benchLogger, scrapedMetrics } from './observability.mjs'

const { observed, payload } = JSON.parse(process.argv[2])
const mesa = new Mesa({ port: 0, ...(observed ? { logger: benchLogger() } : {}) })
const detach = observed ? scrapedMetrics(mesa) : () => {}
mesa.on('connection', (client) => client.authenticate((data, done) => done(null, { id: String(data.id), user: {} })))
await mesa.listening()
const message = new Message(0, payload, 'NEW_MESSAGE')
let cpuStart = process.cpuUsage()

process.on('message', async (command) => {
  if (command === 'start') {
    cpuStart = process.cpuUsage()
    process.send({ started: true })
  } else if (command.broadcast !== undefined) {
    for (let i = 0; i < command.broadcast; i++) {
      mesa.send(message)
      if (i % 20 === 19) await new Promise((resolve) => setImmediate(resolve))
    }
    process.send({ sent: command.broadcast })
  } else if (command === 'stop') {
    const cpu = process.cpuUsage(cpuStart)
    process.send({ cpuMicros: cpu.user + cpu.system })
  } else if (command === 'close') {
    detach()
    await mesa.close()
    process.send({ closed: true })
    process.disconnect()
  }
})

process.send({ url: `ws://127.0.0.1:${mesa.port}/` })
