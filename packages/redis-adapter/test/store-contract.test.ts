import { MemoryAdapter, type MessageStore, type ReadResult, type RetentionOptions } from '@mesa/core'
import { afterEach, describe, expect, it } from 'vitest'
import { TestScope } from './support/scope.js'

const scope = new TestScope()
afterEach(() => scope.cleanup())

/**
 * The same scenarios against both stores: whatever the server does with one, it can do with the other. Each
 * store is created with the retention given (default: five entries per stream).
 */
const stores: [string, (retention?: RetentionOptions) => MessageStore][] = [
  ['MemoryMessageStore', (retention = { maxEntries: 5 }) => new MemoryAdapter({ retention }).store],
  ['RedisStreamStore', (retention = { maxEntries: 5 }) => scope.adapter({ retention }).store],
]

function strip(result: ReadResult) {
  if (result.status !== 'ok') return { status: result.status, seq: result.head.seq }
  return { status: 'ok', seq: result.head.seq, entries: result.entries.map(({ time, ...entry }) => entry) }
}

describe.each(stores)('MessageStore contract: %s', (_name, create) => {
  it('gives identical answers for the same history', async () => {
    const store = create()
    const head = await store.head('user:u')
    expect(head.seq).toBe(0)
    const positions = await store.appendMany([
      { stream: 'user:u', entry: { frame: 'a', undelivered: true } },
      { stream: 'global', entry: { frame: 'g', excluding: ['u'], authenticatedOnly: true } },
      { stream: 'user:u', entry: { frame: 'b', excluding: [] } },
    ])
    expect(positions.map((p) => p.seq)).toEqual([1, 1, 2])
    expect(positions[0]!.epoch).toBe(head.epoch)
    for (let i = 0; i < 5; i++) await store.append('user:u', { frame: `n${i}` })
    const epoch = head.epoch
    expect(strip(await store.readAfter('user:u', { epoch, seq: 1 }))).toEqual({ status: 'trimmed', seq: 7 })
    expect(strip(await store.readAfter('user:u', { epoch, seq: 2 }))).toEqual({
      status: 'ok',
      seq: 7,
      entries: [3, 4, 5, 6, 7].map((seq) => ({ seq, frame: `n${seq - 3}` })),
    })
    expect(strip(await store.readAfter('user:u', { epoch, seq: 5 }, 1))).toEqual({
      status: 'ok',
      seq: 7,
      entries: [{ seq: 6, frame: 'n3' }],
    })
    expect(strip(await store.readAfter('user:u', { epoch, seq: 8 }))).toEqual({ status: 'epoch-changed', seq: 7 })
    expect(strip(await store.readAfter('user:u', { epoch: 'x', seq: 0 }))).toEqual({ status: 'epoch-changed', seq: 7 })
    expect(strip(await store.readAfter('global', { epoch: positions[1]!.epoch, seq: 0 }))).toEqual({
      status: 'ok',
      seq: 1,
      entries: [{ seq: 1, frame: 'g', excluding: ['u'], authenticatedOnly: true }],
    })
    await store.clear('user:u')
    expect(strip(await store.readAfter('user:u', { epoch, seq: 6 }))).toEqual({ status: 'trimmed', seq: 7 })
    expect(strip(await store.readAfter('user:u', { epoch, seq: 7 }))).toEqual({ status: 'ok', seq: 7, entries: [] })
    await store.trim('user:u')
    expect(await store.getCursor('user:u', 'legacy')).toBe(0)
    await store.setCursor('user:u', 'legacy', 7)
    expect(await store.getCursor('user:u', 'legacy')).toBe(7)
    expect(await store.head('user:u')).toEqual({ epoch, seq: 7 })
  })

  it('reads what is still retained after a sequence, and says whether anything was trimmed', async () => {
    const store = create()
    const frames = (result: { entries: { seq: number; frame: string }[] }) => result.entries.map((e) => [e.seq, e.frame])
    for (let i = 1; i <= 8; i++) await store.append('user:r', { frame: `m${i}`, undelivered: i % 2 === 0 })
    const { epoch } = await store.head('user:r')
    // 1..3 were trimmed (five kept): after 0 or 2, what is left is 4..8 and the answer says it is not complete.
    for (const after of [0, 2]) {
      const retained = await store.readRetained('user:r', after)
      expect(retained.complete).toBe(false)
      expect(retained.head).toEqual({ epoch, seq: 8 })
      expect(frames(retained)).toEqual([4, 5, 6, 7, 8].map((seq) => [seq, `m${seq}`]))
    }
    const whole = await store.readRetained('user:r', 3)
    expect(whole.complete).toBe(true)
    expect(whole.entries.map((e) => [e.seq, e.undelivered === true])).toEqual([
      [4, true],
      [5, false],
      [6, true],
      [7, false],
      [8, true],
    ])
    expect(await store.readRetained('user:r', 6)).toMatchObject({ complete: true, entries: [{ seq: 7 }, { seq: 8 }] })
    expect(await store.readRetained('user:r', 8)).toEqual({ entries: [], head: { epoch, seq: 8 }, complete: true })
    expect(await store.readRetained('user:r', 99)).toEqual({ entries: [], head: { epoch, seq: 8 }, complete: true })
    await store.clear('user:r')
    expect(await store.readRetained('user:r', 5)).toEqual({ entries: [], head: { epoch, seq: 8 }, complete: false })
    await expect(store.readRetained('user:r', -1)).rejects.toThrow(/readRetained after must be a sequence/)
  })

  it('keeps at most maxBytes per stream, counting frames and excluding lists in UTF-8 bytes', async () => {
    const store = create({ maxBytes: 60 })
    const frames = (result: ReadResult) => (result.status === 'ok' ? result.entries.map((e) => e.frame) : result.status)
    // 20, 20 (10 + ["abc"] 7 + 3), 24 ('é' 2 bytes, '😀' 4) bytes.
    const first = await store.append('user:b', { frame: 'a'.repeat(20) })
    await store.append('user:b', { frame: 'b'.repeat(13), excluding: ['abc'] })
    await store.append('user:b', { frame: `${'é'.repeat(8)}${'😀'.repeat(2)}` })
    const { epoch } = first
    // 64 bytes: the first is dropped.
    expect(frames(await store.readAfter('user:b', { epoch, seq: 0 }))).toBe('trimmed')
    expect(frames(await store.readAfter('user:b', first))).toEqual(['b'.repeat(13), `${'é'.repeat(8)}${'😀'.repeat(2)}`])
    expect(await store.readRetained('user:b', 0)).toMatchObject({ complete: false, entries: [{ seq: 2 }, { seq: 3 }] })
    await store.append('user:b', { frame: 'd'.repeat(16) })
    expect(frames(await store.readAfter('user:b', { epoch, seq: 2 }))).toEqual([
      `${'é'.repeat(8)}${'😀'.repeat(2)}`,
      'd'.repeat(16),
    ])
    // Larger than the bound on its own: nothing is kept, yet the head moves on.
    const big = await store.append('user:b', { frame: 'e'.repeat(61) })
    expect(big).toEqual({ epoch, seq: 5 })
    expect(frames(await store.readAfter('user:b', { epoch, seq: 4 }))).toBe('trimmed')
    expect(await store.readAfter('user:b', big)).toEqual({ status: 'ok', entries: [], head: big })
    expect(await store.readRetained('user:b', 3)).toEqual({ entries: [], head: big, complete: false })
    await store.append('user:b', { frame: 'f' })
    expect(frames(await store.readAfter('user:b', big))).toEqual(['f'])
  })

  it('bounds each stream by the first of maxEntries and maxBytes to be reached', async () => {
    const store = create({ maxEntries: 3, maxBytes: 30 })
    const e28 = 'e'.repeat(28)
    const positions = await store.appendMany(
      ['aaaaaaaaaa', 'bbbbbbbbbb', 'cc', 'dd'].map((frame) => ({ stream: 'user:m', entry: { frame } })),
    )
    const { epoch } = positions[0]!
    // Four entries, 24 bytes: the count bound drops the first.
    expect(strip(await store.readAfter('user:m', { epoch, seq: 0 }))).toEqual({ status: 'trimmed', seq: 4 })
    expect(strip(await store.readAfter('user:m', { epoch, seq: 1 }))).toMatchObject({ status: 'ok', seq: 4 })
    await store.appendMany([{ stream: 'user:m', entry: { frame: e28 } }])
    // The count bound drops bb; cc, dd and the 28 bytes would make 32: the byte bound drops cc too.
    expect(strip(await store.readAfter('user:m', { epoch, seq: 2 }))).toEqual({ status: 'trimmed', seq: 5 })
    expect(strip(await store.readAfter('user:m', { epoch, seq: 3 }))).toEqual({
      status: 'ok',
      seq: 5,
      entries: [
        { seq: 4, frame: 'dd' },
        { seq: 5, frame: e28 },
      ],
    })
  })
})
