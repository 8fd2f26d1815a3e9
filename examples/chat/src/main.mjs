import { startChatServer } from './server.mjs'

const port = process.env.PORT === undefined ? 3000 : Number(process.env.PORT)
const host = process.env.HOST ?? '127.0.0.1'
const log = (level, msg, fields) => console.log(`[${level}] ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`)

const chat = await startChatServer({ port, host, log })
console.log(`Mesa chat on ${chat.url} (open it in two windows)`)

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    chat.close().then(() => process.exit(0))
  })
}
