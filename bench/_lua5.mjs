import { Redis } from 'ioredis'
import { readFileSync } from 'node:fs'
const src = readFileSync('packages/redis-adapter/dist/index.js', 'utf8')
const helpers = src.match(/var HELPERS = `([\s\S]*?)`;/)[1]
const ah = src.match(/var APPEND_HELPERS = `([\s\S]*?)`;/)[1]
const append = src.match(/var APPEND = new LuaScript\(`\$\{HELPERS\}\$\{APPEND_HELPERS\}([\s\S]*?)`\);/)[1]
const r = new Redis({ enableAutoPipelining: true })
const cpu = async () => { const i = await r.info('cpu'); const g = (f) => Number(i.match(new RegExp(`^${f}:([\\d.]+)`, 'm'))[1]); return (g('used_cpu_user') + g('used_cpu_sys')) * 1e6 }
const N = 20000
async function bench(label, fn) {
  const c0 = await cpu()
  for (let i = 0; i < N; i += 50) { await Promise.all(Array.from({ length: 50 }, (_, j) => fn(i + j))) }
  const c1 = await cpu(); console.log(label.padEnd(40), ((c1 - c0) / N).toFixed(2), 'µs redis cpu/op')
}
const frame = 'x'.repeat(150)
const variants = {
  full: append,
  noInfo: append.replace("local master, promoted = nodeIdentity()", "local master, promoted = '', false"),
  noTime: append.replace("local now = nowMs()", "local now = 1e12"),
  noPexpire: append.replace("if count > 0 then redis.call('PEXPIRE', e, maxAge) end", ''),
  noXadd: append.replace("redis.call('XADD', e, string.format('%d-0', seq), unpack(fields))", ''),
  noHset: append.replace("redis.call('HSET', h, 'seq', seq, 'bytes', bytes, 'oldest', oldest or now)", "redis.call('HSET', h, 'seq', seq)"),
}
for (const [k, body] of Object.entries(variants)) {
  const sha = await r.script('LOAD', helpers + ah + body)
  await bench(k, (i) => r.evalsha(sha, 2, `lb${k}:e` + (i % 200), `lb${k}:h` + (i % 200), 'EPOCH', 1000, 86400000, 16777216, frame, '', '', ''))
  for (let i = 0; i < 200; i++) await r.del(`lb${k}:e` + i, `lb${k}:h` + i)
}
r.disconnect()
const r2 = new Redis({ enableAutoPipelining: true })
const cpu2 = async () => { const i = await r2.info('cpu'); const g = (f) => Number(i.match(new RegExp(`^${f}:([\\d.]+)`, 'm'))[1]); return (g('used_cpu_user') + g('used_cpu_sys')) * 1e6 }
async function bench2(label, fn) {
  const c0 = await cpu2()
  for (let i = 0; i < N; i += 50) { await Promise.all(Array.from({ length: 50 }, (_, j) => fn(i + j))) }
  const c1 = await cpu2(); console.log(label.padEnd(40), ((c1 - c0) / N).toFixed(2), 'µs redis cpu/op')
}
const mk = { helpersOnly: helpers + ah + 'return 1', bare: 'return 1', nowOnly: helpers + 'local now = nowMs() return 1', hmgetXlen: helpers + "local h = redis.call('HMGET', KEYS[2], 'epoch', 'seq', 'master', 'bytes', 'oldest') local c = redis.call('XLEN', KEYS[1]) return 1",
 writes: "redis.call('XADD', KEYS[1], '*', 't', '1', 'f', ARGV[5]) redis.call('HSET', KEYS[2], 'seq', 1, 'bytes', 2, 'oldest', 3) redis.call('PEXPIRE', KEYS[1], 100000) return 1" }
for (const [k, body] of Object.entries(mk)) {
  const sha = await r2.script('LOAD', body)
  await bench2(k, (i) => r2.evalsha(sha, 2, `lb${k}:e` + (i % 200), `lb${k}:h` + (i % 200), 'EPOCH', 1000, 86400000, 16777216, frame, '', '', ''))
  for (let i = 0; i < 200; i++) await r2.del(`lb${k}:e` + i, `lb${k}:h` + i)
}
r2.disconnect()
