import { delay } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { TestScope } from './support/scope.js'

const scope = new TestScope()
afterEach(() => scope.cleanup())

// What every store must do is in the adapter contract (adapter-contract.test.ts); these are the Redis store's
// own ways: epochs after a lost head, exact MAXLEN under concurrent appends, the byte total in the head, key TTLs.
describe('RedisStreamStore', () => {
  it('starts a new epoch when the head was lost (Redis restarted without persistence)', async () => {
    const adapter = scope.adapter()
    const before = await adapter.store.append('s', { frame: 'a' })
    await adapter.store.append('s', { frame: 'b' })
    const keys = await scope.keysOf(adapter.namespace)
    await scope.redis().del(...keys.filter((k) => k.endsWith(':h')))
    const read = await adapter.store.readAfter('s', before)
    expect(read.status).toBe('epoch-changed')
    expect(read.head.seq).toBe(0)
    expect(read.head.epoch).not.toBe(before.epoch)
    const next = await adapter.store.append('s', { frame: 'c' })
    expect(next).toEqual({ epoch: read.head.epoch, seq: 1 })
    const all = await adapter.store.readAfter('s', { epoch: next.epoch, seq: 0 })
    expect(all.status === 'ok' && all.entries.map((e) => e.frame)).toEqual(['c'])
  })

  it('keeps at most maxEntries per stream under a long stream, the head surviving', async () => {
    const { store } = scope.adapter({ retention: { maxEntries: 100 } })
    let last = { epoch: '', seq: 0 }
    for (let round = 0; round < 50; round++) {
      const batch = await Promise.all(Array.from({ length: 100 }, (_, i) => store.append('long', { frame: `${round}:${i}` })))
      last = batch[batch.length - 1]!
      expect(await store.size('long')).toBeLessThanOrEqual(100)
    }
    expect(last.seq).toBe(5000)
    expect(await store.size('long')).toBe(100)
    expect((await store.readAfter('long', { epoch: last.epoch, seq: 4899 })).status).toBe('trimmed')
    const kept = await store.readAfter('long', { epoch: last.epoch, seq: 4900 })
    expect(kept.status === 'ok' && kept.entries.length).toBe(100)
    expect(await store.head('long')).toEqual(last)
  })

  it('keeps at most maxBytes per stream, with the byte total in the head kept in step', async () => {
    const adapter = scope.adapter({ retention: { maxBytes: 100, maxEntries: 50 } })
    const { store } = adapter
    const frame = (n: number) => `${String(n).padStart(3, '0')}${'x'.repeat(17)}` // 20 bytes
    let last = { epoch: '', seq: 0 }
    for (let n = 1; n <= 200; n++) {
      last = await store.append('s', { frame: frame(n), excluding: n % 50 === 0 ? ['u'] : undefined })
      expect(await store.bytes('s')).toBeLessThanOrEqual(100)
    }
    // 200 is 25 bytes with its ["u"]: 197..200 are kept, 85 bytes.
    expect(await store.size('s')).toBe(4)
    expect(await store.bytes('s')).toBe(85)
    expect((await store.readAfter('s', { epoch: last.epoch, seq: 195 })).status).toBe('trimmed')
    const kept = await store.readAfter('s', { epoch: last.epoch, seq: 196 })
    expect(kept.status === 'ok' && kept.entries.map((e) => e.frame)).toEqual([197, 198, 199, 200].map(frame))
    // Multi-byte characters count as Redis stores them (UTF-8).
    await store.append('s', { frame: `${'é'.repeat(10)}${'😀'.repeat(5)}` })
    expect(await store.bytes('s')).toBe(20 + 25 + 40)
    // An entry larger than maxBytes is not kept; the head still counts it.
    const big = await store.append('s', { frame: 'z'.repeat(101) })
    expect(await store.size('s')).toBe(0)
    expect(await store.bytes('s')).toBe(0)
    expect(await store.head('s')).toEqual(big)
    expect(await store.readAfter('s', big)).toEqual({ status: 'ok', entries: [], head: big })
    expect((await store.readAfter('s', last)).status).toBe('trimmed')
    // Appends under the same head go on from an empty stream.
    expect(await store.append('s', { frame: frame(1) })).toEqual({ epoch: last.epoch, seq: big.seq + 1 })
    expect(await store.bytes('s')).toBe(20)
  })

  it('counts the bytes of entries written before the head kept them, and none once the entries expired', async () => {
    const adapter = scope.adapter({ retention: { maxBytes: 50, maxAgeMs: 300 } })
    const { store } = adapter
    const head = `mesa:${adapter.namespace}:stream:{${adapter.namespace}:s}:h`
    const redis = scope.redis()
    for (let n = 0; n < 2; n++) await store.append('s', { frame: 'x'.repeat(20) })
    // As a stream written by an earlier version: no byte total.
    await redis.hdel(head, 'bytes')
    const third = await store.append('s', { frame: 'y'.repeat(20) })
    expect(await store.size('s')).toBe(2)
    expect(await redis.hget(head, 'bytes')).toBe('40')
    // The entries key expires with its newest entry; the head's stale total must not count against new ones.
    await delay(400)
    expect(await store.size('s')).toBe(0)
    await store.append('s', { frame: 'z'.repeat(30) })
    await store.append('s', { frame: 'z'.repeat(20) })
    expect(await store.size('s')).toBe(2)
    expect(await redis.hget(head, 'bytes')).toBe('50')
    expect(await store.head('s')).toEqual({ epoch: third.epoch, seq: 5 })
  })

  it('keeps the oldest entry time in the head, and finds it once for a head written before it kept one', async () => {
    const adapter = scope.adapter({ retention: { maxEntries: 3, maxAgeMs: 60_000 } })
    const { store } = adapter
    const key = (suffix: string) => `mesa:${adapter.namespace}:stream:{${adapter.namespace}:s}:${suffix}`
    const redis = scope.redis()
    const first = await store.append('s', { frame: 'a' })
    // As an earlier version left it: no 'oldest' in the head, and an entry already past maxAgeMs.
    const now = Number((await redis.time())[0]) * 1000
    await redis.xadd(key('e'), '2-0', 't', String(now - 120_000), 'f', 'b')
    await redis.xtrim(key('e'), 'MINID', '2-0')
    await redis.hset(key('h'), 'seq', 2)
    await redis.hdel(key('h'), 'oldest')
    const third = await store.append('s', { frame: 'c' })
    expect(third).toEqual({ epoch: first.epoch, seq: 3 })
    const read = await store.readRetained('s', 0)
    expect(read.entries.map((entry) => entry.frame)).toEqual(['c'])
    expect(await redis.hget(key('h'), 'oldest')).toBe(String(read.entries[0]!.time))
    // Over the count bound, the head's 'oldest' moves to the first entry kept.
    for (const frame of ['d', 'e', 'f']) await store.append('s', { frame })
    const kept = await store.readRetained('s', 0)
    expect(kept.entries.map((entry) => entry.frame)).toEqual(['d', 'e', 'f'])
    expect(await redis.hget(key('h'), 'oldest')).toBe(String(kept.entries[0]!.time))
    expect(await store.bytes('s')).toBe(3)
  })

  it('lets the entries of an idle stream expire with a TTL of maxAgeMs, keeping head and cursors', async () => {
    const adapter = scope.adapter({ retention: { maxAgeMs: 300 } })
    const { store } = adapter
    const first = await store.append('s', { frame: 'old' })
    await store.setCursor('s', 'legacy', 1)
    const ttl = await scope.redis().pttl(`mesa:${adapter.namespace}:stream:{${adapter.namespace}:s}:e`)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(300)
    // Nothing reads or appends meanwhile: Redis drops the entries on its own.
    await delay(400)
    expect(await store.size('s')).toBe(0)
    expect(await store.head('s')).toEqual(first)
    expect(await store.getCursor('s', 'legacy')).toBe(1)
  })
})
