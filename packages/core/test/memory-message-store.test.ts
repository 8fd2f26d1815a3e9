import { describe, expect, it } from 'vitest'
import { ConfigError } from '../src/index.js'
import { MemoryMessageStore, userStream } from '../src/server.js'

function clock(start = 1_000_000) {
  const state = { now: start }
  return { now: () => state.now, advance: (ms: number) => (state.now += ms) }
}

// What every store must do is in the adapter contract (memory-adapter-contract.test.ts); these are the
// memory store's own bounds.
describe('MemoryMessageStore', () => {
  it('keeps at most maxEntries per stream under a long stream and reports trimmed history', async () => {
    const store = new MemoryMessageStore({ maxEntries: 100 })
    let epoch = ''
    for (let i = 0; i < 100_000; i++) {
      epoch = (await store.append('long', { frame: `m${i}` })).epoch
      if (store.size('long') > 100) throw new Error(`size ${store.size('long')} after ${i + 1} appends`)
    }
    expect(store.size('long')).toBe(100)
    expect(store.totalSize()).toBe(100)
    expect(await store.head('long')).toEqual({ epoch, seq: 100_000 })
    expect((await store.readAfter('long', { epoch, seq: 99_899 })).status).toBe('trimmed')
    const last = await store.readAfter('long', { epoch, seq: 99_900 })
    expect(last.status).toBe('ok')
    if (last.status !== 'ok') return
    expect(last.entries).toHaveLength(100)
    expect(last.entries[0]!.seq).toBe(99_901)
    expect(last.entries[99]!.frame).toBe('m99999')
  })

  it('bounds appendMany over many streams the same way', async () => {
    const store = new MemoryMessageStore({ maxEntries: 10 })
    for (let round = 0; round < 200; round++) {
      const positions = await store.appendMany(
        Array.from({ length: 50 }, (_, i) => ({ stream: userStream(`u${i}`), entry: { frame: `r${round}` } })),
      )
      expect(positions.every((p) => p.seq === round + 1)).toBe(true)
    }
    expect(store.totalSize()).toBe(500)
    expect(store.size(userStream('u7'))).toBe(10)
  })

  it('empties streams idle for maxAgeMs as a side effect of any call, without a timer', async () => {
    const time = clock()
    const store = new MemoryMessageStore({ maxAgeMs: 1000, now: time.now })
    for (let i = 0; i < 1000; i++) await store.append(userStream(`idle${i}`), { frame: 'x' })
    expect(store.totalSize()).toBe(1000)
    time.advance(1001)
    await store.append('busy', { frame: 'y' })
    expect(store.totalSize()).toBe(1)
    expect((await store.head(userStream('idle3'))).seq).toBe(1)
  })

  it('keeps at most maxBytes per stream, counting frames and excluding lists in UTF-8 bytes', async () => {
    const store = new MemoryMessageStore({ maxBytes: 100 })
    const frame = (n: number) => `${String(n).padStart(2, '0')}${'x'.repeat(18)}` // 20 bytes
    let epoch = ''
    for (let n = 1; n <= 12; n++) epoch = (await store.append('s', { frame: frame(n) })).epoch
    // Five 20-byte entries fill 100 bytes: 8..12 are kept.
    expect(store.size('s')).toBe(5)
    expect(store.bytes('s')).toBe(100)
    expect((await store.readAfter('s', { epoch, seq: 6 })).status).toBe('trimmed')
    const kept = await store.readAfter('s', { epoch, seq: 7 })
    expect(kept.status === 'ok' && kept.entries.map((e) => e.frame)).toEqual([8, 9, 10, 11, 12].map(frame))
    // 'é' is two bytes, '😀' four, ["u1"] six: a 41-byte entry leaves room for two 20-byte ones before it.
    await store.append('s', { frame: `${'é'.repeat(10)}${'😀'.repeat(3)}${'y'.repeat(3)}`, excluding: ['u1'] })
    expect(store.bytes('s')).toBe(20 + 20 + 41)
    expect(store.size('s')).toBe(3)
    // An entry larger than maxBytes is not kept, nor anything before it; the head still counts it.
    const big = await store.append('s', { frame: 'z'.repeat(101) })
    expect(store.size('s')).toBe(0)
    expect(store.bytes('s')).toBe(0)
    expect(await store.head('s')).toEqual(big)
    expect((await store.readAfter('s', { epoch, seq: 13 })).status).toBe('trimmed')
    expect(await store.readAfter('s', big)).toEqual({ status: 'ok', entries: [], head: big })
    await store.append('s', { frame: frame(15) })
    expect(store.bytes('s')).toBe(20)
  })

  it('rejects invalid retention options', () => {
    expect(() => new MemoryMessageStore({ maxEntries: 0 })).toThrow(ConfigError)
    expect(() => new MemoryMessageStore({ maxAgeMs: -1 })).toThrow(ConfigError)
    expect(() => new MemoryMessageStore({ maxEntries: 1.5 })).toThrow(/maxEntries/)
    expect(() => new MemoryMessageStore({ maxBytes: 0 })).toThrow(/retention.maxBytes/)
  })

  it('keeps at most maxTotalBytes across its streams: the streams appended to longest ago give up their oldest entries first', async () => {
    const store = new MemoryMessageStore({ maxTotalBytes: 100 })
    const frame = (n: number) => String(n).padStart(10, '0')
    for (let n = 1; n <= 6; n++) await store.append('a', { frame: frame(n) })
    for (let n = 1; n <= 4; n++) await store.append('b', { frame: frame(n) })
    expect(store.totalBytes()).toBe(100)
    // The seventh entry of b is beyond the bound: a, appended to longest ago, gives up its oldest.
    for (let n = 5; n <= 6; n++) await store.append('b', { frame: frame(n) })
    expect([store.totalBytes(), store.size('a'), store.size('b')]).toEqual([100, 4, 6])
    const a = await store.head('a')
    expect((await store.readAfter('a', { epoch: a.epoch, seq: 0 })).status).toBe('trimmed')
    expect((await store.readAfter('a', { epoch: a.epoch, seq: 2 })).status).toBe('ok')
    const b = await store.head('b')
    const read = await store.readAfter('b', { epoch: b.epoch, seq: 0 })
    expect(read.status === 'ok' && read.entries.map((entry) => entry.seq)).toEqual([1, 2, 3, 4, 5, 6])
    // A stream alone larger than the bound keeps its newest entries.
    for (let n = 1; n <= 12; n++) await store.append('c', { frame: frame(n) })
    expect([store.size('a'), store.size('b'), store.size('c'), store.totalBytes()]).toEqual([0, 0, 10, 100])
    expect(() => new MemoryMessageStore({ maxTotalBytes: 0 })).toThrow(ConfigError)
  })
})

