import { describe, expect, it } from 'vitest'
import { CloseCode, Message, Opcode } from '../src/index.js'
import { encodeMessage, frameToMessage, parseFrame, toSafeRecord, withSequence } from '../src/server.js'

describe('parseFrame', () => {
  it('accepts a 1.x dispatch frame and keeps every field', () => {
    const result = parseFrame('{"op":0,"d":{"a":1},"t":"HELLO","s":3,"o":{"sync":false}}')
    expect(result).toEqual({ ok: true, frame: { op: 0, d: { a: 1 }, t: 'HELLO', s: 3, o: { sync: false } } })
  })

  it('treats null optional fields as absent, as 1.x peers send them', () => {
    const result = parseFrame('{"op":11,"d":{},"t":null}')
    expect(result).toEqual({ ok: true, frame: { op: 11, d: {} } })
  })

  it.each([
    ['not json{', 'invalid-json', CloseCode.InvalidFrame],
    ['[1,2]', 'invalid-frame', CloseCode.InvalidFrame],
    ['"text"', 'invalid-frame', CloseCode.InvalidFrame],
    ['null', 'invalid-frame', CloseCode.InvalidFrame],
    ['{"d":{}}', 'invalid-frame', CloseCode.InvalidFrame],
    ['{"op":"0","d":{}}', 'invalid-frame', CloseCode.InvalidFrame],
    ['{"op":0.5,"d":{}}', 'invalid-frame', CloseCode.InvalidFrame],
    ['{"op":0}', 'invalid-frame', CloseCode.InvalidFrame],
    ['{"op":0,"d":[]}', 'invalid-frame', CloseCode.InvalidFrame],
    ['{"op":0,"d":"x"}', 'invalid-frame', CloseCode.InvalidFrame],
    ['{"op":0,"d":{},"t":5}', 'invalid-frame', CloseCode.InvalidFrame],
    [`{"op":0,"d":{},"t":"${'x'.repeat(300)}"}`, 'invalid-frame', CloseCode.InvalidFrame],
    ['{"op":0,"d":{},"s":-1}', 'invalid-frame', CloseCode.InvalidFrame],
    ['{"op":0,"d":{},"s":"1"}', 'invalid-frame', CloseCode.InvalidFrame],
    ['{"op":0,"d":{},"o":true}', 'invalid-frame', CloseCode.InvalidFrame],
    ['{"op":0,"d":{},"o":{"sync":"no"}}', 'invalid-frame', CloseCode.InvalidFrame],
    ['{"op":0,"d":{},"x":[]}', 'invalid-frame', CloseCode.InvalidFrame],
    ['{"op":42,"d":{}}', 'unknown-opcode', CloseCode.UnknownOpcode],
    ['{"op":5,"d":{}}', 'unknown-opcode', CloseCode.UnknownOpcode],
  ])('rejects %s with %s', (raw, code, closeCode) => {
    const result = parseFrame(raw)
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.error.code).toBe(code)
    expect(result.error.closeCode).toBe(closeCode)
    expect(result.error.message.length).toBeGreaterThan(0)
  })
})

describe('Message encoding', () => {
  it('encodes the 1.x frame and round-trips through parseFrame', () => {
    const message = new Message(Opcode.Dispatch, { content: 'Hey!', n: [1, 2] }, 'NEW_MESSAGE')
    const encoded = message.serialize()
    expect(JSON.parse(encoded)).toEqual({ op: 0, d: { content: 'Hey!', n: [1, 2] }, t: 'NEW_MESSAGE' })
    const parsed = parseFrame(encoded)
    expect(parsed.ok && frameToMessage(parsed.frame)).toEqual(message)
  })

  it('writes o only when sync is off, and s only when there is a sequence', () => {
    expect(JSON.parse(new Message(0, {}, 'TYPING', { sync: false }).serialize())).toEqual({
      op: 0,
      d: {},
      t: 'TYPING',
      o: { sync: false },
    })
    expect(JSON.parse(encodeMessage(new Message(0, {}, 'A'), 7))).toEqual({ op: 0, d: {}, t: 'A', s: 7 })
    expect(JSON.parse(new Message(11, {}).serialize())).toEqual({ op: 11, d: {} })
  })

  it('adds a sequence and extensions to an encoded frame without re-encoding its data', () => {
    const frame = encodeMessage(new Message(0, { a: 'b' }, 'T'))
    expect(JSON.parse(withSequence(frame, 12))).toEqual({ op: 0, d: { a: 'b' }, t: 'T', s: 12 })
    expect(JSON.parse(withSequence(frame, 3, '{"st":"g"}'))).toEqual({ op: 0, d: { a: 'b' }, t: 'T', s: 3, x: { st: 'g' } })
  })
})

describe('toSafeRecord', () => {
  it('keeps __proto__ and constructor keys as plain data', () => {
    const parsed = parseFrame('{"op":2,"d":{"__proto__":{"polluted":true},"constructor":{"prototype":{"bad":1}},"token":"t"}}')
    expect(parsed.ok).toBe(true)
    if (!parsed.ok) return
    const safe = toSafeRecord(parsed.frame.d)
    const merged = Object.assign(Object.create(null), safe, { shouldSync: true })
    expect(merged.token).toBe('t')
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(({} as Record<string, unknown>).bad).toBeUndefined()
    expect(Object.getPrototypeOf(safe)).toBeNull()
    expect(Object.keys(safe)).toEqual(['__proto__', 'constructor', 'token'])
  })
})

describe('error names', () => {
  it('survive minification because they are spelled out', async () => {
    const { AuthenticationError, MesaError, ProtocolError, QueueFullError } = await import('../src/index.js')
    expect(new MesaError('x', 'y').name).toBe('MesaError')
    expect(new ProtocolError('invalid-json', 4000, 'bad').name).toBe('ProtocolError')
    expect(new AuthenticationError('rejected', 'no').name).toBe('AuthenticationError')
    expect(new QueueFullError(3).name).toBe('QueueFullError')
    class AppError extends MesaError {}
    expect(new AppError('app', 'failed').name).toBe('AppError')
  })
})
