import { RedisAdapter } from '../packages/redis-adapter/dist/index.js'
const N = 40000
const a = new RedisAdapter({ redis: 'redis://127.0.0.1:6379', namespace: 'luabench' + process.pid })
const frame = JSON.stringify({ op: 0, d: { content: 'The quick brown fox jumps over the lazy dog', author: { id: '42', name: 'Ada' }, tags: ['a', 'b', 'c'] }, t: 'NEW_MESSAGE' })
const op = process.argv[2]
for (let i = 0; i < N; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => op === 'publish' ? a.publish({ kind: 'publication', origin: 'x', channel: 'c' + (j % 200), frame }) : a.store.append('ch:c' + ((i + j) % 200), { frame })))
await a.close()
