import { Redis } from 'ioredis'
import { RedisAdapter } from '../packages/redis-adapter/dist/index.js'
const r = new Redis()
const cpu = async () => { const i = await r.info('cpu'); const g = (f) => Number(i.match(new RegExp(`^${f}:([\\d.]+)`, 'm'))[1]); return (g('used_cpu_user') + g('used_cpu_sys')) * 1e6 }
const N = 20000
const a = new RedisAdapter({ redis: 'redis://127.0.0.1:6379', namespace: 'luabench' + process.pid })
async function bench(label, fn) {
  const c0 = await cpu(); const t0 = performance.now(); const p0 = process.cpuUsage()
  for (let i = 0; i < N; i += 50) { await Promise.all(Array.from({ length: 50 }, (_, j) => fn(i + j))) }
  const p = process.cpuUsage(p0)
  const c1 = await cpu(); console.log(label, ((c1 - c0) / N).toFixed(2), 'µs redis cpu/op', ((p.user + p.system) / N).toFixed(2), 'µs node cpu/op', ((performance.now() - t0) * 1000 / N).toFixed(1), 'µs wall/op')
}
const frame = JSON.stringify({ op: 0, d: { content: 'The quick brown fox jumps over the lazy dog', author: { id: '42', name: 'Ada' }, tags: ['a', 'b', 'c'] }, t: 'NEW_MESSAGE' })
for (let k = 0; k < 2; k++) {
await bench('adapter publish', (i) => a.publish({ kind: 'publication', origin: 'x', channel: 'c' + (i % 200), frame }))
await bench('store append', (i) => a.store.append('ch:c' + (i % 200), { frame }))
}
await a.close(); r.disconnect()
const b = new RedisAdapter({ redis: 'redis://127.0.0.1:6379', namespace: 'luabench2' + process.pid })
const r3 = new Redis()
const cpu3 = async () => { const i = await r3.info('cpu'); const g = (f) => Number(i.match(new RegExp(`^${f}:([\\d.]+)`, 'm'))[1]); return (g('used_cpu_user') + g('used_cpu_sys')) * 1e6 }
async function bench3(label, fn) {
  const c0 = await cpu3(); const p0 = process.cpuUsage()
  for (let i = 0; i < N; i += 50) { await Promise.all(Array.from({ length: 50 }, (_, j) => fn(i + j))) }
  const p = process.cpuUsage(p0); const c1 = await cpu3(); console.log(label, ((c1 - c0) / N).toFixed(2), 'µs redis cpu/op', ((p.user + p.system) / N).toFixed(2), 'µs node cpu/op')
}
for (let k = 0; k < 2; k++) {
  await bench3('append then publish', async (i) => { const env = { kind: 'publication', origin: 'x', channel: 'c' + (i % 200), frame }; env.position = await b.store.append('channel:c' + (i % 200), { frame }); await b.publish(env) })
  await bench3('storeAndPublish    ', (i) => b.storeAndPublish('channel:c' + (i % 200), { frame }, { kind: 'publication', origin: 'x', channel: 'c' + (i % 200), frame }))
}
await b.close(); r3.disconnect()
