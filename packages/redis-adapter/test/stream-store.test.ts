import { StoreError, userStream } from '@mesa/core'
import { afterEach, describe, expect, it } from 'vitest'
import { TestScope } from './support/scope.js'

const scope = new TestScope()
afterEach(() => scope.cleanup())

describe('RedisStreamStore', () => {
  it('appends with per-stream epochs and sequences and reads after a position', async () => {
    const { store } = scope.adapter()
    const a = await store.append('s', { frame: 'a' })
    const b = await store.append('s', { frame: 'b', excluding: ['x', 'y'], authenticatedOnly: true })
    const c = await store.append('s', { frame: 'c', undelivered: true })
    const other = await store.append('t', { frame: 'z' })
    expect([a.seq, b.seq, c.seq, other.seq]).toEqual([1, 2, 3, 1])
    expect(b.epoch).toBe(a.epoch)
    expect(other.epoch).not.toBe(a.epoch)
    const read = await store.readAfter('s', { epoch: a.epoch, seq: 0 })
    expect(read.status).toBe('ok')
    if (read.status !== 'ok') return
    expect(read.head).toEqual(c)
    expect(read.entries.map(({ time, ...rest }) => rest)).toEqual([
      { seq: 1, frame: 'a' },
      { seq: 2, frame: 'b', excluding: ['x', 'y'], authenticatedOnly: true },
      { seq: 3, frame: 'c', undelivered: true },
    ])
    expect(Math.abs(read.entries[0]!.time - Date.now())).toBeLessThan(60_000)
    const after = await store.readAfter('s', b)
    expect(after.status === 'ok' && after.entries.map((e) => e.frame)).toEqual(['c'])
    expect(await store.readAfter('s', c)).toEqual({ status: 'ok', entries: [], head: c })
    const page = await store.readAfter('s', { epoch: a.epoch, seq: 0 }, 2)
    expect(page.status === 'ok' && page.entries.map((e) => e.seq)).toEqual([1, 2])
    await expect(store.readAfter('s', a, 0)).rejects.toBeInstanceOf(StoreError)
  })

  it('creates the head on first use and reports epoch-changed for a foreign or future position', async () => {
    const { store } = scope.adapter()
    const head = await store.head('fresh')
    expect(head.seq).toBe(0)
    expect(head.epoch).toMatch(/^[0-9a-f]{24}$/)
    expect(await store.head('fresh')).toEqual(head)
    expect((await store.append('fresh', { frame: 'x' })).epoch).toBe(head.epoch)
    expect((await store.readAfter('fresh', { epoch: 'other', seq: 0 })).status).toBe('epoch-changed')
    expect((await store.readAfter('fresh', { epoch: head.epoch, seq: 9 })).status).toBe('epoch-changed')
    const unknown = await store.readAfter('never-used', { epoch: 'abc', seq: 3 })
    expect(unknown.status).toBe('epoch-changed')
    expect(unknown.head.seq).toBe(0)
  })

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
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(await store.size('s')).toBe(0)
    await store.append('s', { frame: 'z'.repeat(30) })
    await store.append('s', { frame: 'z'.repeat(20) })
    expect(await store.size('s')).toBe(2)
    expect(await redis.hget(head, 'bytes')).toBe('50')
    expect(await store.head('s')).toEqual({ epoch: third.epoch, seq: 5 })
  })

  it('drops entries older than maxAgeMs and lets idle streams expire, keeping head and cursors', async () => {
    const adapter = scope.adapter({ retention: { maxAgeMs: 300 } })
    const { store } = adapter
    const first = await store.append('s', { frame: 'old' })
    await store.setCursor('s', 'legacy', 1)
    const ttl = await scope.redis().pttl(`mesa:${adapter.namespace}:stream:{${adapter.namespace}:s}:e`)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(300)
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect((await store.readAfter('s', { epoch: first.epoch, seq: 0 })).status).toBe('trimmed')
    const second = await store.append('s', { frame: 'new' })
    expect(second).toEqual({ epoch: first.epoch, seq: 2 })
    expect(await store.size('s')).toBe(1)
    const fromFirst = await store.readAfter('s', first)
    expect(fromFirst.status === 'ok' && fromFirst.entries.map((e) => e.frame)).toEqual(['new'])
    await new Promise((resolve) => setTimeout(resolve, 400))
    await store.trim('s')
    expect(await store.size('s')).toBe(0)
    expect(await store.head('s')).toEqual(second)
    expect(await store.getCursor('s', 'legacy')).toBe(1)
  })

  it('leaves entries past maxAgeMs out of readRetained even before a trim removed them', async () => {
    const { store } = scope.adapter({ retention: { maxAgeMs: 1000 } })
    await store.append('aged', { frame: 'old', undelivered: true })
    await new Promise((resolve) => setTimeout(resolve, 700))
    await store.append('aged', { frame: 'young', undelivered: true })
    // `old` is now past maxAgeMs but still in the stream: no append has trimmed since it aged out.
    await new Promise((resolve) => setTimeout(resolve, 500))
    const retained = await store.readRetained('aged', 0)
    expect(retained.entries.map((entry) => entry.frame)).toEqual(['young'])
    expect(retained.complete).toBe(false)
    expect(await store.readRetained('aged', 1)).toMatchObject({ complete: true, entries: [{ seq: 2, frame: 'young' }] })
  })

  it('appends to many streams in one call, in order, and trims on demand', async () => {
    const { store } = scope.adapter({ retention: { maxEntries: 3 } })
    const items = Array.from({ length: 600 }, (_, i) => ({
      stream: userStream(`u${i % 300}`),
      entry: { frame: `f${i}` },
    }))
    const positions = await store.appendMany(items)
    expect(positions).toHaveLength(600)
    expect(positions[0]!.seq).toBe(1)
    expect(positions[300]!.seq).toBe(2)
    expect(positions[300]!.epoch).toBe(positions[0]!.epoch)
    const read = await store.readAfter(userStream('u7'), { epoch: positions[7]!.epoch, seq: 0 })
    expect(read.status === 'ok' && read.entries.map((e) => e.frame)).toEqual(['f7', 'f307'])
    expect(await store.appendMany([])).toEqual([])
    await store.trim(userStream('u7'))
    await store.trim('never-used')
    expect(await store.size(userStream('u7'))).toBe(2)
  })

  it('keeps streams whose names contain braces and colons apart', async () => {
    const { store } = scope.adapter()
    const names = ['user:a}b', 'user:a', 'user:{a}', 'user:a}:e', 'global']
    for (const [i, name] of names.entries()) {
      for (let n = 0; n <= i; n++) await store.append(name, { frame: `${name}#${n}` })
    }
    for (const [i, name] of names.entries()) {
      const head = await store.head(name)
      expect(head.seq).toBe(i + 1)
      const read = await store.readAfter(name, { epoch: head.epoch, seq: 0 })
      expect(read.status === 'ok' && read.entries.map((e) => e.frame)).toEqual(
        Array.from({ length: i + 1 }, (_, n) => `${name}#${n}`),
      )
    }
  })

  it('clears entries but keeps head, and stores cursors', async () => {
    const { store } = scope.adapter()
    const p = await store.append('s', { frame: 'a' })
    expect(await store.getCursor('s', 'legacy')).toBe(0)
    await store.setCursor('s', 'legacy', 1)
    await store.clear('s')
    expect(await store.head('s')).toEqual(p)
    expect(await store.getCursor('s', 'legacy')).toBe(1)
    expect((await store.readAfter('s', { epoch: p.epoch, seq: 0 })).status).toBe('trimmed')
    expect((await store.append('s', { frame: 'b' })).seq).toBe(2)
    await expect(store.setCursor('s', 'legacy', -1)).rejects.toBeInstanceOf(StoreError)
  })
})
