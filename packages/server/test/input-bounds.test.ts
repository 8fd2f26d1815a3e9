import { delay, nextEvent, withTimeout } from '@mesa/test-kit'
import { describe, expect, it } from 'vitest'
import type WebSocket from 'ws'
import { CloseCode, type Mesa, ProtocolError } from '../src/index.js'
import { connect, maskedHeader, rawSocket, startServer } from './helpers.js'

/** An authenticate handler that counts its calls and accepts everyone. */
function countAuthentications(mesa: Mesa): { calls: number } {
  const counter = { calls: 0 }
  mesa.on('connection', (client) =>
    client.authenticate((_, done) => {
      counter.calls++
      done(null, { id: 'u', user: {} })
    }),
  )
  return counter
}

/** An op 2 frame of about `bytes` bytes. */
function bigAuthentication(bytes: number): string {
  return JSON.stringify({ op: 2, d: { token: 'x'.repeat(bytes) } })
}

describe('input bounds: payload before authentication, depth, keys', () => {
  it('refuses a frame above limits.maxPayloadBeforeAuthentication from its header (1009): its bytes are never read, no handler runs', async () => {
    const { mesa, url } = await startServer()
    const counter = countAuthentications(mesa)
    const errored = nextEvent(mesa, 'error')
    const raw = await rawSocket(url)
    // Only the header of a 1 MiB frame: a server that waited for the payload would never answer.
    raw.write(maskedHeader(1024 * 1024 - 1))
    expect(await raw.closeFrame).toBe(CloseCode.MessageTooBig)
    const [error] = await errored
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error).toMatchObject({ code: 'payload-too-large', closeCode: CloseCode.MessageTooBig })
    expect(error.message).toBe('frame larger than 32768 bytes (limits.maxPayloadBeforeAuthentication)')
    expect(counter.calls).toBe(0)
    // It never answers the close frame, and is not held for it: ws ends the connection after its close frame.
    await withTimeout('the socket cut', raw.cut, 5000)
  })

  it('refuses a whole op 2 of 40 KiB before authentication, then lets an authenticated socket send up to maxPayload', async () => {
    const { mesa, url } = await startServer()
    const counter = countAuthentications(mesa)
    const early = await connect(url)
    early.send(bigAuthentication(40 * 1024))
    expect((await early.waitClose()).code).toBe(CloseCode.MessageTooBig)
    expect(counter.calls).toBe(0)

    const member = await connect(url)
    await member.authenticate({ token: 'small' })
    const received = nextEvent(mesa, 'message')
    member.send({ op: 0, t: 'BIG', d: { text: 'x'.repeat(512 * 1024) } })
    const [message] = await received
    expect(message.type).toBe('BIG')
    expect(member.closeCode).toBeUndefined()
  })

  it('without the ws internal it relies on, the same limit holds by a length check before parsing', async () => {
    const { mesa, url } = await startServer()
    const counter = countAuthentications(mesa)
    // Plays a ws whose receivers have no `_maxPayload`: 0 means no limit to ws, so only the server's check is left.
    const { wss } = mesa as unknown as { wss: { on(event: 'connection', listener: (ws: WebSocket) => void): void } }
    wss.on('connection', (ws) => {
      ;(ws as unknown as { _receiver: { _maxPayload: number } })._receiver._maxPayload = 0
    })
    const errored = nextEvent(mesa, 'error')
    const socket = await connect(url)
    socket.send(bigAuthentication(40 * 1024))
    expect(await socket.waitClose()).toEqual({
      code: CloseCode.MessageTooBig,
      reason: 'frame larger than 32768 bytes (limits.maxPayloadBeforeAuthentication)',
    })
    expect((await errored)[0]).toMatchObject({ code: 'payload-too-large' })
    expect(counter.calls).toBe(0)
  })

  it.each([
    ['objects nested too deep', `{"op":0,"t":"X","d":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`, 'too-deep', 'limits.maxDepth'],
    ['arrays nested too deep', `{"op":0,"t":"X","d":{"a":${'['.repeat(40)}${']'.repeat(40)}}}`, 'too-deep', 'limits.maxDepth'],
    ['too many objects (refused before parsing)', `{"op":0,"t":"X","d":{"a":[${Array(25_000).fill('{}').join(',')}]}}`, 'too-many-keys', 'limits.maxKeys'],
    ['too many numbers', `{"op":0,"t":"X","d":{"a":[${Array(25_000).fill('1').join(',')}]}}`, 'too-many-keys', 'limits.maxKeys'],
    ['too many keys', `{"op":0,"t":"X","d":{${Array.from({ length: 25_000 }, (_, i) => `"k${i}":0`).join(',')}}}`, 'too-many-keys', 'limits.maxKeys'],
  ])('refuses %s with 4000 and a reason naming the limit; the handler never runs', async (_, frame, code, option) => {
    const { mesa, url } = await startServer()
    let handled = 0
    mesa.on('message', () => void handled++)
    mesa.on('connection', (client) => client.authenticate((_, done) => done(null, { id: 'u', user: {} })))
    const errored = nextEvent(mesa, 'error')
    const socket = await connect(url)
    // Authenticated, so that the frame is under maxPayload and the structure is what gets it refused.
    await socket.authenticate({})
    socket.send(frame)
    const closed = await socket.waitClose()
    expect(closed.code).toBe(CloseCode.InvalidFrame)
    expect(closed.reason).toContain(option)
    expect((await errored)[0]).toMatchObject({ name: 'ProtocolError', code })
    await delay(50)
    expect(handled).toBe(0)
  })

  it('takes frames right at the limits', async () => {
    const { mesa, url } = await startServer({ limits: { maxDepth: 4, maxKeys: 6 } })
    const received = nextEvent(mesa, 'message')
    const socket = await connect(url)
    // The frame is level 1: op, t, d, a, b, c are its 6 keys, c's array is level 4.
    socket.send('{"op":0,"t":"X","d":{"a":{"b":1,"c":[]}}}')
    expect((await received)[0].data).toEqual({ a: { b: 1, c: [] } })
  })
})
