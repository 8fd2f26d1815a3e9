import { StoreError } from '@mesa/core'
import { type ReadResult, type StoredEntry, userStream } from '@mesa/core/server'
import { expect } from 'vitest'
import type { ContractTest } from './contract-test.js'

/** Entries without their timestamps, which the tests check on their own. */
const untimed = (entries: readonly StoredEntry[]) => entries.map(({ time, ...entry }) => entry)

/** `[seq, frame]` of each entry of an `ok` read; the status otherwise. */
const frames = (read: ReadResult) => (read.status === 'ok' ? read.entries.map((e) => [e.seq, e.frame]) : read.status)

/** `store`: the redelivery history, per stream, that lets a client resume or be told it cannot. */
export function storeContract(test: ContractTest): void {
  test('numbers each stream from 1 under an epoch that its head creates on first use and keeps', async (t) => {
    const { store } = await t.adapter()
    const head = await store.head('user:a')
    expect(head.seq).toBe(0)
    expect(head.epoch).toEqual(expect.any(String))
    expect(head.epoch).not.toBe('')
    expect(await store.head('user:a')).toEqual(head)
    expect(await store.append('user:a', { frame: 'a1' })).toEqual({ epoch: head.epoch, seq: 1 })
    expect(await store.append('user:a', { frame: 'a2' })).toEqual({ epoch: head.epoch, seq: 2 })
    expect((await store.append('user:b', { frame: 'b1' })).seq).toBe(1)
    expect(await store.head('user:a')).toEqual({ epoch: head.epoch, seq: 2 })
  })

  test('reads every entry after a position, oldest first, as appended (what carries meaning), stamped with the time', async (t) => {
    const { store } = await t.adapter()
    const before = t.now()
    const frame = '{"op":0,"d":{"text":"héllo \\"you\\" 😀"},"t":"SAY"}'
    await store.append('s', { frame, undelivered: true })
    await store.append('s', { frame: 'b', excluding: ['x', 'y'], authenticatedOnly: true })
    const last = await store.append('s', { frame: 'c', excluding: [], authenticatedOnly: false, undelivered: false })
    const after = t.now()
    const read = await store.readAfter('s', { epoch: last.epoch, seq: 0 })
    if (read.status !== 'ok') throw new Error(`readAfter answered ${read.status}`)
    expect(read.head).toEqual(last)
    // Empty lists and false flags are not kept: both implementations read back alike.
    expect(untimed(read.entries)).toEqual([
      { seq: 1, frame, undelivered: true },
      { seq: 2, frame: 'b', excluding: ['x', 'y'], authenticatedOnly: true },
      { seq: 3, frame: 'c' },
    ])
    for (const { time } of read.entries) {
      // A store's own clock (a database server's) may differ a little from this process's.
      expect(time).toBeGreaterThanOrEqual(before - 60_000)
      expect(time).toBeLessThanOrEqual(after + 60_000)
    }
    expect(frames(await store.readAfter('s', { epoch: last.epoch, seq: 1 }))).toEqual([
      [2, 'b'],
      [3, 'c'],
    ])
    expect(await store.readAfter('s', last)).toEqual({ status: 'ok', entries: [], head: last })
  })

  test('keeps what it was given: changing the input afterwards changes no history', async (t) => {
    const { store } = await t.adapter()
    const excluding = ['x']
    const position = await store.append('s', { frame: 'f', excluding })
    excluding.push('y')
    const read = await store.readAfter('s', { epoch: position.epoch, seq: 0 })
    expect(read.status === 'ok' && read.entries[0]!.excluding).toEqual(['x'])
  })

  test('reads at most `limit` entries, the oldest, and rejects a limit that is not a positive integer', async (t) => {
    const { store } = await t.adapter()
    let epoch = ''
    for (let i = 1; i <= 10; i++) epoch = (await store.append('s', { frame: `m${i}` })).epoch
    const page = await store.readAfter('s', { epoch, seq: 2 }, 3)
    expect(frames(page)).toEqual([
      [3, 'm3'],
      [4, 'm4'],
      [5, 'm5'],
    ])
    expect(page.head).toEqual({ epoch, seq: 10 })
    for (const limit of [0, -1, 1.5]) {
      await expect(store.readAfter('s', { epoch, seq: 2 }, limit)).rejects.toBeInstanceOf(StoreError)
    }
  })

  test('answers epoch-changed, with the head, for a position of another history, one ahead of the head, or on a new stream', async (t) => {
    const { store } = await t.adapter()
    const head = await store.append('s', { frame: 'a' })
    expect(await store.readAfter('s', { epoch: 'another-history', seq: 0 })).toEqual({ status: 'epoch-changed', head })
    expect(await store.readAfter('s', { epoch: head.epoch, seq: 5 })).toEqual({ status: 'epoch-changed', head })
    const unknown = await store.readAfter('never-used', { epoch: head.epoch, seq: 3 })
    expect(unknown.status).toBe('epoch-changed')
    expect(unknown.head.seq).toBe(0)
  })

  test('keeps at most maxEntries per stream, and answers trimmed rather than give part of a history', async (t) => {
    const { store } = await t.adapter({ retention: { maxEntries: 5 } })
    let epoch = ''
    for (let i = 1; i <= 8; i++) epoch = (await store.append('user:r', { frame: `m${i}` })).epoch
    await store.append('user:other', { frame: 'o1' })
    const head = { epoch, seq: 8 }
    for (const seq of [0, 1, 2]) {
      expect(await store.readAfter('user:r', { epoch, seq })).toEqual({ status: 'trimmed', head })
    }
    expect(frames(await store.readAfter('user:r', { epoch, seq: 3 }))).toEqual(
      [4, 5, 6, 7, 8].map((seq) => [seq, `m${seq}`]),
    )
    expect(frames(await store.readAfter('user:r', { epoch, seq: 3 }, 2))).toEqual([
      [4, 'm4'],
      [5, 'm5'],
    ])
    expect(await store.head('user:r')).toEqual(head)
    expect((await store.readAfter('user:other', { ...(await store.head('user:other')), seq: 0 })).status).toBe('ok')
  })

  test('keeps at most maxBytes per stream, counting frames and excluding lists in UTF-8 bytes', async (t) => {
    const { store } = await t.adapter({ retention: { maxBytes: 60 } })
    const accented = `${'é'.repeat(8)}${'😀'.repeat(2)}`
    // 20, 20 (13 + ["abc"] 7) and 24 ('é' is 2 bytes, '😀' 4) bytes.
    const first = await store.append('user:b', { frame: 'a'.repeat(20) })
    await store.append('user:b', { frame: 'b'.repeat(13), excluding: ['abc'] })
    await store.append('user:b', { frame: accented })
    const { epoch } = first
    // 64 bytes: the first is dropped.
    expect(await store.readAfter('user:b', { epoch, seq: 0 })).toEqual({ status: 'trimmed', head: { epoch, seq: 3 } })
    expect(frames(await store.readAfter('user:b', first))).toEqual([
      [2, 'b'.repeat(13)],
      [3, accented],
    ])
    expect(await store.readRetained('user:b', 0)).toMatchObject({ complete: false, entries: [{ seq: 2 }, { seq: 3 }] })
    await store.append('user:b', { frame: 'd'.repeat(16) })
    expect(frames(await store.readAfter('user:b', { epoch, seq: 2 }))).toEqual([
      [3, accented],
      [4, 'd'.repeat(16)],
    ])
    // Larger than the bound on its own: nothing is kept, yet the head moves on.
    const big = await store.append('user:b', { frame: 'e'.repeat(61) })
    expect(big).toEqual({ epoch, seq: 5 })
    expect((await store.readAfter('user:b', { epoch, seq: 4 })).status).toBe('trimmed')
    expect(await store.readAfter('user:b', big)).toEqual({ status: 'ok', entries: [], head: big })
    expect(await store.readRetained('user:b', 3)).toEqual({ entries: [], head: big, complete: false })
    await store.append('user:b', { frame: 'f' })
    expect(frames(await store.readAfter('user:b', big))).toEqual([[6, 'f']])
  })

  test('bounds each stream by the first of maxEntries and maxBytes to be reached', async (t) => {
    const { store } = await t.adapter({ retention: { maxEntries: 3, maxBytes: 30 } })
    const e28 = 'e'.repeat(28)
    const positions = await store.appendMany(
      ['aaaaaaaaaa', 'bbbbbbbbbb', 'cc', 'dd'].map((frame) => ({ stream: 'user:m', entry: { frame } })),
    )
    const { epoch } = positions[0]!
    // Four entries, 24 bytes: the count bound drops the first.
    expect(await store.readAfter('user:m', { epoch, seq: 0 })).toEqual({ status: 'trimmed', head: { epoch, seq: 4 } })
    expect(frames(await store.readAfter('user:m', { epoch, seq: 1 }))).toEqual([
      [2, 'bbbbbbbbbb'],
      [3, 'cc'],
      [4, 'dd'],
    ])
    await store.appendMany([{ stream: 'user:m', entry: { frame: e28 } }])
    // The count bound drops bb; cc, dd and the 28 bytes would make 32: the byte bound drops cc too.
    expect(await store.readAfter('user:m', { epoch, seq: 2 })).toEqual({ status: 'trimmed', head: { epoch, seq: 5 } })
    expect(frames(await store.readAfter('user:m', { epoch, seq: 3 }))).toEqual([
      [4, 'dd'],
      [5, e28],
    ])
  })

  test('gives what a stream retains after a sequence, saying whether nothing was trimmed since (readRetained)', async (t) => {
    const { store } = await t.adapter({ retention: { maxEntries: 5 } })
    for (let i = 1; i <= 8; i++) await store.append('user:r', { frame: `m${i}`, undelivered: i % 2 === 0 })
    const { epoch } = await store.head('user:r')
    const head = { epoch, seq: 8 }
    // 1..3 were trimmed: after 0 or 2, what is left is 4..8, and the answer says it is not everything.
    for (const after of [0, 2]) {
      const retained = await store.readRetained('user:r', after)
      expect(retained.complete).toBe(false)
      expect(retained.head).toEqual(head)
      expect(retained.entries.map((e) => [e.seq, e.frame])).toEqual([4, 5, 6, 7, 8].map((seq) => [seq, `m${seq}`]))
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
    expect(await store.readRetained('user:r', 8)).toEqual({ entries: [], head, complete: true })
    expect(await store.readRetained('user:r', 99)).toEqual({ entries: [], head, complete: true })
    await expect(store.readRetained('user:r', -1)).rejects.toBeInstanceOf(StoreError)
  })

  test('drops entries older than maxAgeMs; an idle stream keeps its head and cursors', async (t) => {
    const { store } = await t.adapter({ retention: { maxAgeMs: 1500 } })
    const first = await store.append('s', { frame: 'old', undelivered: true })
    await store.setCursor('s', 'legacy', 1)
    await t.pass(900)
    await store.append('s', { frame: 'young', undelivered: true })
    await t.pass(900)
    // `old` is past maxAgeMs, `young` is not.
    const { epoch } = first
    expect(await store.readAfter('s', { epoch, seq: 0 })).toEqual({ status: 'trimmed', head: { epoch, seq: 2 } })
    expect(frames(await store.readAfter('s', first))).toEqual([[2, 'young']])
    expect(await store.readRetained('s', 0)).toMatchObject({ complete: false, entries: [{ seq: 2, frame: 'young' }] })
    expect(await store.readRetained('s', 1)).toMatchObject({ complete: true, entries: [{ seq: 2, frame: 'young' }] })
    await t.pass(1700)
    // Both are gone; what an idle user's clients need is not.
    expect((await store.readAfter('s', first)).status).toBe('trimmed')
    expect(await store.readAfter('s', { epoch, seq: 2 })).toEqual({ status: 'ok', entries: [], head: { epoch, seq: 2 } })
    expect(await store.head('s')).toEqual({ epoch, seq: 2 })
    expect(await store.getCursor('s', 'legacy')).toBe(1)
    expect(await store.append('s', { frame: 'next' })).toEqual({ epoch, seq: 3 })
  })

  test('appends many entries in one call, each to its stream, with positions in the order given', async (t) => {
    const { store } = await t.adapter()
    const items = Array.from({ length: 600 }, (_, i) => ({ stream: userStream(`u${i % 300}`), entry: { frame: `f${i}` } }))
    const positions = await store.appendMany(items)
    expect(positions.map((p) => p.seq)).toEqual(items.map((_, i) => (i < 300 ? 1 : 2)))
    expect(positions[300]!.epoch).toBe(positions[0]!.epoch)
    expect(frames(await store.readAfter(userStream('u7'), { epoch: positions[7]!.epoch, seq: 0 }))).toEqual([
      [1, 'f7'],
      [2, 'f307'],
    ])
    expect(await store.appendMany([])).toEqual([])
    const mixed = await store.appendMany([
      { stream: 's', entry: { frame: 'a' } },
      { stream: 't', entry: { frame: 'b', undelivered: true } },
      { stream: 's', entry: { frame: 'c' } },
    ])
    expect(mixed.map((p) => p.seq)).toEqual([1, 1, 2])
  })

  test('keeps named cursors per stream, 0 until set, and rejects one that is not a sequence', async (t) => {
    const { store } = await t.adapter()
    // A server reads the head first: a cursor belongs to the stream's current epoch.
    await store.head('s')
    await store.head('t')
    expect(await store.getCursor('s', 'legacy')).toBe(0)
    await store.setCursor('s', 'legacy', 7)
    await store.setCursor('s', 'other', 3)
    expect(await store.getCursor('s', 'legacy')).toBe(7)
    expect(await store.getCursor('s', 'other')).toBe(3)
    expect(await store.getCursor('t', 'legacy')).toBe(0)
    await store.setCursor('s', 'legacy', 0)
    expect(await store.getCursor('s', 'legacy')).toBe(0)
    for (const seq of [-1, 1.5]) await expect(store.setCursor('s', 'legacy', seq)).rejects.toBeInstanceOf(StoreError)
  })

  test('keeps streams apart whatever their names hold (braces, colons, dots, wildcards, spaces, non-ASCII)', async (t) => {
    const { store } = await t.adapter()
    const names = ['user:a}b', 'user:a', 'user:{a}', 'user:a}:e', 'user:a.b', 'user:*', 'user:>', 'user:ü ñ', 'global']
    for (const [i, name] of names.entries()) {
      for (let n = 0; n <= i; n++) await store.append(name, { frame: `${name}#${n}` })
    }
    for (const [i, name] of names.entries()) {
      const head = await store.head(name)
      expect(head.seq).toBe(i + 1)
      expect(frames(await store.readAfter(name, { epoch: head.epoch, seq: 0 }))).toEqual(
        Array.from({ length: i + 1 }, (_, n) => [n + 1, `${name}#${n}`]),
      )
    }
  })

  test('numbers concurrent appends from every adapter of the namespace once each, with no gap', async (t) => {
    const [a, b] = await t.pair()
    const appends = Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).store.append('user:c', { frame: `m${i}` }))
    const positions = await Promise.all(appends)
    expect(new Set(positions.map((p) => p.epoch)).size).toBe(1)
    expect(positions.map((p) => p.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
    const read = await a.store.readAfter('user:c', { epoch: positions[0]!.epoch, seq: 0 })
    expect(frames(read)).toEqual(positions.map((p, i) => [p.seq, `m${i}`]).sort((x, y) => Number(x[0]) - Number(y[0])))
  })
}
