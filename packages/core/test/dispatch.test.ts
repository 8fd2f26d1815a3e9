import { describe, expect, it, vi } from 'vitest'
import { Message, StoreError } from '../src/index.js'
import { GLOBAL_STREAM, isBroadcast, MemoryAdapter, prepareDispatch, userStream } from '../src/server.js'

const message = (sync = true) => new Message(0, { content: 'Hey!' }, 'NEW_MESSAGE', { sync })

describe('prepareDispatch', () => {
  it('encodes once and builds the envelope without storing when sync is off', async () => {
    const adapter = new MemoryAdapter()
    const envelope = await prepareDispatch(adapter, message(), ['a', 'b'], undefined, { origin: 'o' })
    expect(envelope).toEqual({
      kind: 'dispatch',
      origin: 'o',
      frame: '{"op":0,"d":{"content":"Hey!"},"t":"NEW_MESSAGE"}',
      recipients: ['a', 'b'],
    })
    expect(adapter.store.totalSize()).toBe(0)
  })

  it('stores one entry per recipient (deduplicated, excluding removed) with positions in recipient order', async () => {
    const adapter = new MemoryAdapter()
    await adapter.store.append(userStream('b'), { frame: '{}' })
    await adapter.presence.join('a', 's1')
    const undelivered = vi.fn()
    const envelope = await prepareDispatch(adapter, message(), ['a', 'b', 'a', 'c'], ['c'], {
      origin: 'o',
      sync: true,
      onUndelivered: undelivered,
    })
    expect(envelope.recipients).toEqual(['a', 'b'])
    expect(envelope.excluding).toBeUndefined()
    expect(envelope.sequences).toEqual({
      users: [1, 2],
      userEpochs: [(await adapter.store.head(userStream('a'))).epoch, (await adapter.store.head(userStream('b'))).epoch],
    })
    expect(undelivered).toHaveBeenCalledWith(['b'])
    const head = await adapter.store.head(userStream('b'))
    const read = await adapter.store.readAfter(userStream('b'), { epoch: head.epoch, seq: 1 })
    expect(read).toMatchObject({ status: 'ok', entries: [{ seq: 2, undelivered: true, frame: envelope.frame }] })
    const aHead = await adapter.store.head(userStream('a'))
    const aRead = await adapter.store.readAfter(userStream('a'), { epoch: aHead.epoch, seq: 0 })
    expect(aRead.status === 'ok' && aRead.entries[0]!.undelivered).toBeUndefined()
  })

  it('stores broadcasts once in the global stream with excluding and authenticatedOnly', async () => {
    const adapter = new MemoryAdapter()
    const everyone = await prepareDispatch(adapter, message(), undefined, ['x'], { origin: 'o', sync: true })
    const members = await prepareDispatch(adapter, message(), ['*'], undefined, { origin: 'o', sync: true })
    expect(everyone.recipients).toBeUndefined()
    expect(everyone.excluding).toEqual(['x'])
    expect(everyone.sequences?.global?.seq).toBe(1)
    expect(members.recipients).toEqual(['*'])
    expect(members.sequences?.global?.seq).toBe(2)
    const head = await adapter.store.head(GLOBAL_STREAM)
    const read = await adapter.store.readAfter(GLOBAL_STREAM, { epoch: head.epoch, seq: 0 })
    expect(read).toMatchObject({
      status: 'ok',
      entries: [
        { seq: 1, excluding: ['x'] },
        { seq: 2, authenticatedOnly: true },
      ],
    })
  })

  it('never stores a message with sync: false', async () => {
    const adapter = new MemoryAdapter()
    const targeted = await prepareDispatch(adapter, message(false), ['a'], undefined, { origin: 'o', sync: true })
    const broadcast = await prepareDispatch(adapter, message(false), undefined, undefined, { origin: 'o', sync: true })
    expect(targeted.sequences).toBeUndefined()
    expect(broadcast.sequences).toBeUndefined()
    expect(targeted.frame).toContain('"o":{"sync":false}')
    expect(adapter.store.totalSize()).toBe(0)
  })

  it('rejects with StoreError naming the cause when the store fails', async () => {
    const adapter = new MemoryAdapter()
    vi.spyOn(adapter.store, 'appendMany').mockRejectedValueOnce(new Error('disk full'))
    vi.spyOn(adapter.store, 'append').mockRejectedValueOnce(new Error('disk full'))
    const targeted = prepareDispatch(adapter, message(), ['a'], undefined, { origin: 'o', sync: true })
    await expect(targeted).rejects.toBeInstanceOf(StoreError)
    await expect(prepareDispatch(adapter, message(), undefined, undefined, { origin: 'o', sync: true })).rejects.toThrow(
      /global stream.*disk full/,
    )
  })

  it('flags everyone undelivered when presence fails, rather than losing the message for 1.x clients', async () => {
    const adapter = new MemoryAdapter()
    vi.spyOn(adapter.presence, 'areOnline').mockRejectedValueOnce(new Error('presence down'))
    const undelivered = vi.fn()
    await prepareDispatch(adapter, message(), ['a'], undefined, { origin: 'o', sync: true, onUndelivered: undelivered })
    expect(undelivered).toHaveBeenCalledWith(['a'])
  })

  it('sends nothing for an empty recipient list', async () => {
    const adapter = new MemoryAdapter()
    const envelope = await prepareDispatch(adapter, message(), ['a'], ['a'], { origin: 'o', sync: true })
    expect(envelope.recipients).toEqual([])
    expect(adapter.store.totalSize()).toBe(0)
  })

  it('isBroadcast tells everyone and [*] from user ids', () => {
    expect(isBroadcast(undefined)).toBe(true)
    expect(isBroadcast(['*'])).toBe(true)
    expect(isBroadcast(['a'])).toBe(false)
    expect(isBroadcast([])).toBe(false)
  })
})
