import { Redis } from 'ioredis'
import { readFileSync } from 'node:fs'
const src = readFileSync('packages/redis-adapter/dist/index.js', 'utf8')
const helpers = src.match(/var HELPERS = `([\s\S]*?)`;/)[1]
const append = src.match(/var APPEND = new LuaScript\(`\$\{HELPERS\}([\s\S]*?)`\);/)[1]
const r = new Redis({ enableAutoPipelining: true })
const cpu = async () => { const i = await r.info('cpu'); const g = (f) => Number(i.match(new RegExp(`^${f}:([\\d.]+)`, 'm'))[1]); return (g('used_cpu_user') + g('used_cpu_sys')) * 1e6 }
const N = 20000
async function bench(label, fn) {
  const c0 = await cpu()
  for (let i = 0; i < N; i += 50) { await Promise.all(Array.from({ length: 50 }, (_, j) => fn(i + j))) }
  const c1 = await cpu(); console.log(label.padEnd(40), ((c1 - c0) / N).toFixed(2), 'µs redis cpu/op')
}
const script = helpers + append
const sha = await r.script('LOAD', script)
const frame = 'x'.repeat(150)
await bench('APPEND evalsha', (i) => r.evalsha(sha, 2, 'lb:e' + (i % 200), 'lb:h' + (i % 200), 'EPOCH', 1000, 86400000, 16777216, frame, '', '', ''))
await bench('APPEND evalsha again', (i) => r.evalsha(sha, 2, 'lb:e' + (i % 200), 'lb:h' + (i % 200), 'EPOCH', 1000, 86400000, 16777216, frame, '', '', ''))
const empty = await r.script('LOAD', 'return 1')
await bench('empty evalsha', (i) => r.evalsha(empty, 2, 'lb:e' + (i % 200), 'lb:h' + (i % 200), 'EPOCH', 1000, 86400000, 16777216, frame, '', '', ''))
for (let i = 0; i < 200; i++) await r.del('lb:e' + i, 'lb:h' + i)
r.disconnect()
