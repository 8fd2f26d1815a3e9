import { MemoryAdapter, type MessageStore, type ReadResult } from '@mesa/core'
import { afterEach, describe, expect, it } from 'vitest'
import { TestScope } from './support/scope.js'

const scope = new TestScope()
afterEach(() => scope.cleanup())

/** The same scenarios against both stores: whatever the server does with one, it can do with the other. */
const stores: [string, () => MessageStore][] = [
  ['MemoryMessageStore', () => new MemoryAdapter({ retention: { maxEntries: 5 } }).store],
  ['RedisStreamStore', () => scope.adapter({ retention: { maxEntries: 5 } }).store],
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
})
