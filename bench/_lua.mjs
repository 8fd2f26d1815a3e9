import { Redis } from 'ioredis'
const r = new Redis()
const cpu = async () => { const i = await r.info('cpu'); const g = (f) => Number(i.match(new RegExp(`^${f}:([\\d.]+)`, 'm'))[1]); return (g('used_cpu_user') + g('used_cpu_sys')) * 1e6 }
const N = 20000
async function bench(label, fn) {
  const c0 = await cpu(); const t0 = performance.now()
  for (let i = 0; i < N; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => fn(i + j)))
  const c1 = await cpu(); console.log(label, ((c1 - c0) / N).toFixed(2), 'µs redis cpu/op', ((performance.now() - t0) * 1000 / N).toFixed(1), 'µs wall/op')
}
await bench('INFO replication', () => r.info('replication'))
await bench('eval INFO replication+match', () => r.eval("local info = redis.pcall('INFO', 'replication'); local m = string.match(info, 'master_replid:(%x+)'); local p = string.match(info, 'master_replid2:(%x+)'); return 1", 0))
await bench('eval TIME', () => r.eval("redis.call('TIME') return 1", 0))
await bench('eval empty', () => r.eval("return 1", 0))
await bench('PUBLISH', (i) => r.publish('luabench-nobody', 'x'.repeat(200)))
await bench('XADD maxlen', (i) => r.xadd('luabench:s', 'MAXLEN', '1000', '*', 't', '1', 'f', 'x'.repeat(150)))
await r.del('luabench:s'); r.disconnect()
