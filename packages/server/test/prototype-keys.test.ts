import { delay, nextEvent } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { CloseCode, ProtocolError } from '../src/index.js'
import { connect, deepMerge, startServer } from './helpers.js'

/** Properties an attack would leave on the process's globals; removed after each test so one failure stays one. */
const MARKERS = ['polluted', 'isAdmin'] as const

function pollution(): Record<string, unknown> {
  const found: Record<string, unknown> = {}
  for (const marker of MARKERS) {
    const onPrototype = (Object.prototype as Record<string, unknown>)[marker]
    const onObject = (Object as unknown as Record<string, unknown>)[marker]
    if (onPrototype !== undefined) found[`Object.prototype.${marker}`] = onPrototype
    if (onObject !== undefined) found[`Object.${marker}`] = onObject
  }
  return found
}

afterEach(() => {
  for (const marker of MARKERS) {
    delete (Object.prototype as Record<string, unknown>)[marker]
    delete (Object as unknown as Record<string, unknown>)[marker]
  }
})

/** JSON text of `depth` nested objects (`{"a":{"a":…}}`); the innermost holds `inner`, a JSON members list. */
function nested(depth: number, inner: string): string {
  return `${'{"a":'.repeat(depth - 1)}{${inner}}${'}'.repeat(depth - 1)}`
}

/** The attacks, as JSON members: `__proto__` literally and escaped, `constructor` into `Object`, escaped too. */
const ATTACKS: [name: string, members: string][] = [
  ['__proto__', '"__proto__":{"polluted":1}'],
  ['__proto__ spelled with \\u escapes', '"\\u005f_proto\\u005F_":{"polluted":2}'],
  ['constructor.prototype', '"constructor":{"prototype":{"polluted":3}}'],
  ['constructor spelled with \\u escapes', '"\\u0063onstructor":{"prototype":{"polluted":4}}'],
  ['constructor holding a static of Object', '"constructor":{"isAdmin":true}'],
]

/**
 * How many objects below `d` the attack sits (0: in `d` itself). 32 and 33 straddle the limit of the walk this
 * replaced, which left everything below 32 levels as it was.
 */
const DEPTHS = [0, 1, 32, 33, 1000]

describe('prototype keys in client data, at any depth', () => {
  describe.each(DEPTHS)('at depth %i', (depth) => {
    it.each(ATTACKS)('authentication data: %s reaches no prototype through a naive deep merge', async (_, attack) => {
      // Deep enough for the walk to see every level: refusing the frame would hide whether it sanitises.
      const { mesa, url } = await startServer({ limits: { maxDepth: 2000 } })
      const merged: unknown[] = []
      mesa.on('connection', (client) =>
        client.authenticate((data, done) => {
          merged.push(deepMerge({}, data))
          done(null, { id: 'eve', user: {} })
        }),
      )
      const socket = await connect(url)
      // Sent as text: JSON.stringify would not keep the escapes an attacker's client writes.
      socket.send(`{"op":2,"d":${nested(depth + 1, `"ok":true,${attack}`)}}`)
      await socket.waitFor('op 22', () => socket.frames.some((frame) => frame.op === 22))
      expect(merged).toHaveLength(1)
      expect(pollution()).toEqual({})
      expect(JSON.stringify(merged[0])).toBe(nested(depth + 1, '"ok":true'))
    })

    it.each(ATTACKS)('message data: %s reaches no prototype through a naive deep merge', async (_, attack) => {
      const { mesa, url } = await startServer({ limits: { maxDepth: 2000 } })
      const merged: unknown[] = []
      mesa.on('message', (message) => void merged.push(deepMerge({}, message.data as Record<string, unknown>)))
      const socket = await connect(url)
      const received = nextEvent(mesa, 'message')
      socket.send(`{"op":0,"t":"MERGE","d":${nested(depth + 1, `"ok":true,${attack}`)}}`)
      await received
      expect(pollution()).toEqual({})
      expect(JSON.stringify(merged[0])).toBe(nested(depth + 1, '"ok":true'))
    })
  })

  it('with the default limits.maxDepth, a frame nested 1000 deep is refused (4000) before any handler runs', async () => {
    const { mesa, url } = await startServer()
    let handled = 0
    mesa.on('message', () => void handled++)
    const errored = nextEvent(mesa, 'error')
    const socket = await connect(url)
    socket.send(`{"op":0,"t":"MERGE","d":${nested(1000, '"__proto__":{"polluted":1}')}}`)
    const closed = await socket.waitClose()
    expect(closed).toEqual({ code: CloseCode.InvalidFrame, reason: 'frame nested deeper than 32 levels (limits.maxDepth)' })
    const [error] = await errored
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error).toMatchObject({ code: 'too-deep', closeCode: CloseCode.InvalidFrame })
    await delay(50)
    expect(handled).toBe(0)
    expect(pollution()).toEqual({})
  })

  it('message data keeps what is data: constructor with a string value, prototype keys, escaped ordinary keys', async () => {
    const { mesa, url } = await startServer()
    const received = nextEvent(mesa, 'message')
    const socket = await connect(url)
    socket.send('{"op":0,"t":"CAR","d":{"constructor":"Ferrari","prototype":{"v":2},"\\u0061":1,"note":"__proto__"}}')
    const [message] = await received
    expect(message.data).toEqual({ constructor: 'Ferrari', prototype: { v: 2 }, a: 1, note: '__proto__' })
    expect(Object.getPrototypeOf(message.data)).toBe(Object.prototype)
  })
})
