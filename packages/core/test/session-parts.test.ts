import { describe, expect, it } from 'vitest'
import type { ResumePositions } from '../src/index.js'
import { readFrame } from '../src/session/frame.js'
import { helloDuration, helloRules } from '../src/session/hello.js'
import { acceptSequence, adoptHeads, readPositions } from '../src/session/stream-positions.js'

describe('stream positions', () => {
  it('accepts only sequences above the position of their stream, advancing it', () => {
    const positions = readPositions({ user: { epoch: 'u', seq: 5 } })
    expect([6, 6, 5, 8, 7].map((s) => acceptSequence(positions, 'user', s))).toEqual([true, false, false, true, false])
    expect(positions).toEqual({ user: { epoch: 'u', seq: 8 } })
    // No position in the global stream: nothing to compare with, everything is new and nothing is tracked.
    expect([1, 1].map((s) => acceptSequence(positions, 'global', s))).toEqual([true, true])
    expect(positions.global).toBeUndefined()
    // While a resume is pending, the replay brings the message: taking it now would skip the ones before it.
    expect(acceptSequence(positions, 'user', 9, true)).toBe(false)
    expect(positions.user!.seq).toBe(8)
  })

  it('keeps a resumed position the server recovered, and takes the head otherwise', () => {
    const positions: ResumePositions = { user: { epoch: 'u', seq: 5 }, global: { epoch: 'g', seq: 2 } }
    const resumed = readPositions(positions)
    adoptHeads(positions, { user: { epoch: 'u', seq: 9 }, global: { epoch: 'other', seq: 1 } }, resumed)
    expect(positions).toEqual({ user: { epoch: 'u', seq: 5 }, global: { epoch: 'other', seq: 1 } })
    // Ahead of the head in the same epoch cannot be right: the head wins.
    adoptHeads(positions, { user: { epoch: 'u', seq: 3 } }, { user: { epoch: 'u', seq: 5 } })
    expect(positions.user).toEqual({ epoch: 'u', seq: 3 })
    // Not resumed (or not recovered): every announced head is taken.
    adoptHeads(positions, { user: { epoch: 'u', seq: 20 } })
    expect(positions.user).toEqual({ epoch: 'u', seq: 20 })
  })

  it('reads copies, and ignores malformed positions', () => {
    expect(readPositions({ user: { epoch: '', seq: 1 }, global: { epoch: 'g', seq: -1 } })).toEqual({})
    expect(readPositions({ user: { epoch: 'e', seq: 1.5 }, global: { epoch: 'g', seq: 4, extra: true } })).toEqual({
      global: { epoch: 'g', seq: 4 },
    })
    expect(readPositions('nope')).toEqual({})
    const positions = readPositions({ user: { epoch: 'e', seq: 1 } })
    const copy = readPositions(positions)
    copy.user!.seq = 99
    expect(positions.user!.seq).toBe(1)
    // A head is copied too: the session advancing its position must not change the object it was given.
    const head = { epoch: 'e', seq: 2 }
    adoptHeads(positions, { user: head })
    acceptSequence(positions, 'user', 3)
    expect(head.seq).toBe(2)
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

describe('hello', () => {
  it('reads intervals and rules, treating values of the wrong type as absent', () => {
    const hello = { c_heartbeat_interval: 10_000, c_reconnect_interval: 5000, c_authentication_timeout: 10_000, rules: ['store_messages'] }
    expect(helloDuration(hello, 'c_heartbeat_interval')).toBe(10_000)
    expect(helloDuration(hello, 'c_reconnect_interval')).toBe(5000)
    expect(helloDuration(hello, 'c_authentication_timeout')).toBe(10_000)
    expect(helloRules(hello)).toEqual(['store_messages'])
    const odd = { c_heartbeat_interval: '10', c_reconnect_interval: -1, c_authentication_timeout: 2 ** 40 }
    expect(helloDuration(odd, 'c_heartbeat_interval')).toBeUndefined()
    expect(helloDuration(odd, 'c_reconnect_interval')).toBeUndefined()
    expect(helloDuration(odd, 'c_authentication_timeout')).toBeUndefined()
    // 1.x omits `rules` when there are none.
    expect(helloRules(odd)).toEqual([])
    expect(helloRules({ rules: ['a', 1, null] })).toEqual(['a'])
  })
})
