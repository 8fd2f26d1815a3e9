import { startEchoServer } from './echo.mjs'

const port = Number(process.env.PORT ?? 4001)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be an integer from 0 to 65535, got ${process.env.PORT}`)
  process.exit(1)
}

const mesa = await startEchoServer({ port })
console.log(`Mesa echo server on ws://127.0.0.1:${mesa.port}`)

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    mesa.close().then(() => process.exit(0))
  })
}
