import { delay } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { TestScope } from './support/scope.js'

const scope = new TestScope()
afterEach(() => scope.cleanup())

// What every store must do is in the adapter contract (adapter-contract.test.ts); these are the Redis store's
// own ways: epochs after a lost head, exact MAXLEN under concurrent appends, key TTLs.
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
