import { Redis } from 'ioredis'
const r = new Redis({ enableAutoPipelining: true })
const cpu = async () => { const i = await r.info('cpu'); const g = (f) => Number(i.match(new RegExp(`^${f}:([\\d.]+)`, 'm'))[1]); return (g('used_cpu_user') + g('used_cpu_sys')) * 1e6 }
const N = 20000
async function bench(label, fn) {
  const c0 = await cpu()
  for (let i = 0; i < N; i += 50) { await Promise.all(Array.from({ length: 50 }, (_, j) => fn(i + j))) }
  const c1 = await cpu(); console.log(label.padEnd(40), ((c1 - c0) / N).toFixed(2), 'µs redis cpu/op')
}
const body = (s) => (i) => r.eval(s, 2, 'lb:e' + (i % 200), 'lb:h' + (i % 200), 'x'.repeat(150))
const v = {
  'empty': 'return 1',
  'TIME': "redis.call('TIME') return 1",
  'INFO': "local info = redis.pcall('INFO', 'replication') return 1",
  'HMGET': "redis.call('HMGET', KEYS[2], 'epoch', 'seq', 'master') return 1",
  'HINCRBY': "redis.call('HINCRBY', KEYS[2], 'seq', 1) return 1",
  'XLEN': "redis.call('XLEN', KEYS[1]) return 1",
  'XADD': "redis.call('XADD', KEYS[1], '*', 't', '1', 'f', ARGV[1]) return 1",
  'XRANGE 1': "redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1) return 1",
  'PEXPIRE': "redis.call('PEXPIRE', KEYS[1], 86400000) return 1",
  'HSET': "redis.call('HSET', KEYS[2], 'bytes', 5) return 1",
}
for (const [k, s] of Object.entries(v)) await bench(k, body(s))
for (let i = 0; i < 200; i++) await r.del('lb:e' + i, 'lb:h' + i)
r.disconnect()
