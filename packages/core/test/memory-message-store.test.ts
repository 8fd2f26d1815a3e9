import { describe, expect, it } from 'vitest'
import { ConfigError, MemoryMessageStore, StoreError, userStream } from '../src/index.js'

function clock(start = 1_000_000) {
  const state = { now: start }
  return { now: () => state.now, advance: (ms: number) => (state.now += ms) }
}

describe('MemoryMessageStore', () => {
  it('numbers entries per stream under one epoch and reads after a position', async () => {
    const store = new MemoryMessageStore()
    const a = await store.append('s', { frame: 'a' })
    const b = await store.append('s', { frame: 'b', excluding: ['x'], authenticatedOnly: true })
    const other = await store.append('t', { frame: 'c' })
    expect(a.seq).toBe(1)
    expect(b).toEqual({ epoch: a.epoch, seq: 2 })
    expect(other.seq).toBe(1)
    expect(other.epoch).not.toBe(a.epoch)
    expect(a.epoch).toMatch(/^[0-9a-f]{24}$/)

    const all = await store.readAfter('s', { epoch: a.epoch, seq: 0 })
    expect(all.status).toBe('ok')
    if (all.status !== 'ok') return
    expect(all.entries.map((e) => [e.seq, e.frame])).toEqual([
      [1, 'a'],
      [2, 'b'],
    ])
    expect(all.entries[1]).toMatchObject({ excluding: ['x'], authenticatedOnly: true })
    expect(all.head).toEqual(b)

    const rest = await store.readAfter('s', a)
    expect(rest.status === 'ok' && rest.entries.map((e) => e.seq)).toEqual([2])
    const none = await store.readAfter('s', b)
    expect(none).toEqual({ status: 'ok', entries: [], head: b })
  })

  it('copies the stored input so later changes by the caller do not alter history', async () => {
    const store = new MemoryMessageStore()
    const excluding = ['x']
    const position = await store.append('s', { frame: 'f', excluding })
    excluding.push('y')
    await store.append('s', { frame: 'g', excluding: [], authenticatedOnly: false, undelivered: false })
    const read = await store.readAfter('s', { epoch: position.epoch, seq: 0 })
    expect(read.status === 'ok' && read.entries[0]!.excluding).toEqual(['x'])
    expect(read.status === 'ok' && read.entries[1]).toEqual({ seq: 2, frame: 'g', time: expect.any(Number) })
  })

  it('creates the head with an epoch on first use and keeps it stable', async () => {
    const store = new MemoryMessageStore()
    const head = await store.head('fresh')
    expect(head.seq).toBe(0)
    expect(await store.head('fresh')).toEqual(head)
    const appended = await store.append('fresh', { frame: 'x' })
    expect(appended).toEqual({ epoch: head.epoch, seq: 1 })
  })

  it('reports epoch-changed for another epoch or a position ahead of the head', async () => {
    const store = new MemoryMessageStore()
    const p = await store.append('s', { frame: 'a' })
    expect((await store.readAfter('s', { epoch: 'other', seq: 0 })).status).toBe('epoch-changed')
    expect((await store.readAfter('s', { epoch: p.epoch, seq: 5 })).status).toBe('epoch-changed')
    const fresh = new MemoryMessageStore()
    const result = await fresh.readAfter('s', p)
    expect(result.status).toBe('epoch-changed')
    expect(result.head.seq).toBe(0)
  })

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

  it('drops entries older than maxAgeMs on append, read and trim, keeping the head', async () => {
    const time = clock()
    const store = new MemoryMessageStore({ maxAgeMs: 1000, now: time.now })
    const first = await store.append('s', { frame: 'old' })
    time.advance(600)
    await store.append('s', { frame: 'mid' })
    time.advance(600)
    expect(store.size('s')).toBe(2)
    const read = await store.readAfter('s', { epoch: first.epoch, seq: 0 })
    expect(read.status).toBe('trimmed')
    expect(store.size('s')).toBe(1)
    const fromFirst = await store.readAfter('s', first)
    expect(fromFirst.status === 'ok' && fromFirst.entries.map((e) => e.frame)).toEqual(['mid'])
    expect(fromFirst.status === 'ok' && fromFirst.entries[0]!.time).toBe(1_000_600)
    time.advance(1000)
    await store.trim('s')
    expect(store.size('s')).toBe(0)
    expect(await store.head('s')).toEqual({ epoch: first.epoch, seq: 2 })
    expect((await store.readAfter('s', { epoch: first.epoch, seq: 2 })).status).toBe('ok')
    expect((await store.readAfter('s', first)).status).toBe('trimmed')
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

  it('limits a read to the oldest entries after the position', async () => {
    const store = new MemoryMessageStore()
    let epoch = ''
    for (let i = 0; i < 10; i++) epoch = (await store.append('s', { frame: String(i) })).epoch
    const page = await store.readAfter('s', { epoch, seq: 2 }, 3)
    expect(page.status === 'ok' && page.entries.map((e) => e.seq)).toEqual([3, 4, 5])
    await expect(store.readAfter('s', { epoch, seq: 2 }, 0)).rejects.toBeInstanceOf(StoreError)
  })

  it('clears entries but keeps head and cursors', async () => {
    const store = new MemoryMessageStore()
    const p = await store.append('s', { frame: 'a', undelivered: true })
    await store.setCursor('s', 'legacy', 1)
    await store.clear('s')
    expect(store.size('s')).toBe(0)
    expect(await store.head('s')).toEqual(p)
    expect(await store.getCursor('s', 'legacy')).toBe(1)
    expect((await store.readAfter('s', { epoch: p.epoch, seq: 0 })).status).toBe('trimmed')
    expect((await store.append('s', { frame: 'b' })).seq).toBe(2)
  })

  it('stores named cursors per stream and validates them', async () => {
    const store = new MemoryMessageStore()
    expect(await store.getCursor('s', 'legacy')).toBe(0)
    await store.setCursor('s', 'legacy', 7)
    await store.setCursor('s', 'other', 3)
    expect(await store.getCursor('s', 'legacy')).toBe(7)
    expect(await store.getCursor('t', 'legacy')).toBe(0)
    await expect(store.setCursor('s', 'legacy', -1)).rejects.toBeInstanceOf(StoreError)
    await expect(store.setCursor('s', 'legacy', 1.5)).rejects.toBeInstanceOf(StoreError)
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
})
