import { describe, expect, it } from 'vitest'
import { QueueFullError } from '../src/index.js'
import { readFrame } from '../src/session/frame.js'
import { readHello } from '../src/session/hello.js'
import { OutgoingQueue } from '../src/session/outgoing-queue.js'
import { readPositions, StreamPositions } from '../src/session/stream-positions.js'

describe('StreamPositions', () => {
  it('accepts only sequences above the position of their stream, advancing it', () => {
    const positions = new StreamPositions({ user: { epoch: 'u', seq: 5 } })
    expect([6, 6, 5, 8, 7].map((s) => positions.accept('user', s))).toEqual([true, false, false, true, false])
    expect(positions.snapshot).toEqual({ user: { epoch: 'u', seq: 8 } })
    // No position in the global stream: nothing to compare with, everything is new and nothing is tracked.
    expect([1, 1].map((s) => positions.accept('global', s))).toEqual([true, true])
    expect(positions.snapshot.global).toBeUndefined()
  })

  it('keeps a resumed position the server recovered, and takes the head otherwise', () => {
    const positions = new StreamPositions({ user: { epoch: 'u', seq: 5 }, global: { epoch: 'g', seq: 2 } })
    const resumed = positions.snapshot
    positions.adopt({ user: { epoch: 'u', seq: 9 }, global: { epoch: 'other', seq: 1 } }, resumed)
    expect(positions.snapshot).toEqual({ user: { epoch: 'u', seq: 5 }, global: { epoch: 'other', seq: 1 } })
    // Ahead of the head in the same epoch cannot be right: the head wins.
    positions.adopt({ user: { epoch: 'u', seq: 3 } }, { user: { epoch: 'u', seq: 5 } })
    expect(positions.snapshot.user).toEqual({ epoch: 'u', seq: 3 })
    // Not resumed (or not recovered): every announced head is taken.
    positions.adopt({ user: { epoch: 'u', seq: 20 } })
    expect(positions.snapshot.user).toEqual({ epoch: 'u', seq: 20 })
  })

  it('hands out copies, and ignores malformed positions', () => {
    const positions = new StreamPositions({ user: { epoch: '', seq: 1 }, global: { epoch: 'g', seq: -1 } })
    expect(positions.snapshot).toEqual({})
    expect(readPositions({ user: { epoch: 'e', seq: 1.5 }, global: { epoch: 'g', seq: 4, extra: true } })).toEqual({
      global: { epoch: 'g', seq: 4 },
    })
    expect(readPositions('nope')).toEqual({})
    positions.adopt({ user: { epoch: 'e', seq: 1 } })
    const copy = positions.snapshot
    copy.user!.seq = 99
    expect(positions.snapshot.user!.seq).toBe(1)
  })
})

describe('readFrame', () => {
  it('takes Mesa frames and nothing else', () => {
    expect(readFrame('{"op":0,"d":{"a":1},"t":"T","s":3,"x":{"st":"g"}}')).toEqual({
      op: 0,
      d: { a: 1 },
      t: 'T',
      s: 3,
      x: { st: 'g' },
    })
    expect(readFrame('{"op":1,"d":{},"t":null,"s":null}')).toMatchObject({ op: 1, d: {} })
    for (const bad of ['not json{', '[]', 'null', '{"op":"0","d":{}}', '{"op":0.5,"d":{}}', '{"op":0,"d":[]}']) {
      expect(readFrame(bad)).toBeUndefined()
    }
    for (const bad of ['{"op":0,"d":{},"t":1}', '{"op":0,"d":{},"s":-1}', '{"op":0,"d":{},"s":1.5}', '{"op":0,"d":{},"x":[]}']) {
      expect(readFrame(bad)).toBeUndefined()
    }
    expect(readFrame(new Uint8Array([123, 125]))).toBeUndefined()
  })
})

describe('readHello', () => {
  it('reads intervals and rules, treating values of the wrong type as absent', () => {
    expect(
      readHello({ c_heartbeat_interval: 10_000, c_reconnect_interval: 5000, c_authentication_timeout: 10_000, rules: ['store_messages'] }),
    ).toEqual({
      heartbeatInterval: 10_000,
      reconnectInterval: 5000,
      authenticationTimeout: 10_000,
      rules: ['store_messages'],
    })
    // 1.x omits `rules` when there are none.
    expect(readHello({ c_heartbeat_interval: '10', c_reconnect_interval: -1, c_authentication_timeout: 2 ** 40 })).toEqual({
      heartbeatInterval: undefined,
      reconnectInterval: undefined,
      authenticationTimeout: undefined,
      rules: [],
    })
    expect(readHello({ rules: ['a', 1, null] }).rules).toEqual(['a'])
  })
})

describe('OutgoingQueue', () => {
  it('keeps order, bounds its size and drains completely', () => {
    const queue = new OutgoingQueue<number>(2)
    queue.push(1)
    queue.push(2)
    expect(() => queue.push(3)).toThrow(QueueFullError)
    expect(queue.size).toBe(2)
    expect(queue.drain()).toEqual([1, 2])
    expect(queue.size).toBe(0)
    expect(() => new OutgoingQueue<number>(0).push(1)).toThrow(QueueFullError)
  })
})
