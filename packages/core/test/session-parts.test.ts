import { describe, expect, it } from 'vitest'
import { isFrame } from '../src/session/frame.js'
import { helloDuration } from '../src/session/hello.js'
import { readPositions } from '../src/session/stream-positions.js'

describe('stream positions', () => {
  it('reads copies, and ignores malformed positions', () => {
    expect(readPositions({ user: { epoch: '', seq: 1 }, global: { epoch: 'g', seq: -1 } })).toEqual({})
    expect(readPositions({ user: { epoch: 'e', seq: 1.5 }, global: { epoch: 'g', seq: 4, extra: true } })).toEqual({
      global: { epoch: 'g', seq: 4 },
    })
    expect(readPositions({ user: { epoch: 'x'.repeat(65), seq: 1 }, global: null })).toEqual({})
    expect(readPositions('nope')).toEqual({})
    expect(readPositions(undefined)).toEqual({})
    const positions = readPositions({ user: { epoch: 'e', seq: 1 } })
    const copy = readPositions(positions)
    copy.user!.seq = 99
    expect(positions.user!.seq).toBe(1)
  })
})

describe('isFrame', () => {
  it('takes Mesa frames and nothing else', () => {
    const frame = (text: string) => isFrame(JSON.parse(text))
    expect(frame('{"op":0,"d":{"a":1},"t":"T","s":3,"x":{"st":"g"}}')).toBe(true)
    expect(frame('{"op":1,"d":{},"t":null,"s":null}')).toBe(true)
    for (const bad of ['[]', 'null', '{"op":"0","d":{}}', '{"op":0.5,"d":{}}', '{"op":0,"d":[]}']) {
      expect(frame(bad)).toBe(false)
    }
    for (const bad of ['{"op":0,"d":{},"t":1}', '{"op":0,"d":{},"s":-1}', '{"op":0,"d":{},"s":1.5}', '{"op":0,"d":{},"x":[]}']) {
      expect(frame(bad)).toBe(false)
    }
    expect(isFrame(undefined)).toBe(false)
  })
})

describe('hello', () => {
  it('reads intervals, treating values of the wrong type as absent', () => {
    const hello = { c_heartbeat_interval: 10_000, c_reconnect_interval: 5000, c_authentication_timeout: 10_000 }
    expect(helloDuration(hello, 'c_heartbeat_interval')).toBe(10_000)
    expect(helloDuration(hello, 'c_reconnect_interval')).toBe(5000)
    expect(helloDuration(hello, 'c_authentication_timeout')).toBe(10_000)
    const odd = { c_heartbeat_interval: '10', c_reconnect_interval: -1, c_authentication_timeout: 2 ** 40 }
    expect(helloDuration(odd, 'c_heartbeat_interval')).toBeUndefined()
    expect(helloDuration(odd, 'c_reconnect_interval')).toBeUndefined()
    expect(helloDuration(odd, 'c_authentication_timeout')).toBeUndefined()
  })
})
