import { describe, expect, it } from 'vitest'
import { nextEvent, type RawClient } from '@mesa/test-kit'
import { CloseCode, Message, ProtocolError, type ServerClient } from '../src/index.js'
import { connect, rawSocket, startServer } from './helpers.js'

type Case = [name: string, send: (socket: RawClient) => void, code: number, errorCode: string]

const cases: Case[] = [
  ['malformed JSON', (s) => s.send('not json{'), CloseCode.InvalidFrame, 'invalid-json'],
  ['a JSON array', (s) => s.send('[1,2]'), CloseCode.InvalidFrame, 'invalid-frame'],
  ['op of the wrong type', (s) => s.send({ op: '0', d: {} }), CloseCode.InvalidFrame, 'invalid-frame'],
  ['d of the wrong type', (s) => s.send({ op: 0, d: 'x' }), CloseCode.InvalidFrame, 'invalid-frame'],
  ['t of the wrong type', (s) => s.send({ op: 0, d: {}, t: 5 }), CloseCode.InvalidFrame, 'invalid-frame'],
  ['o.sync of the wrong type', (s) => s.send({ op: 0, d: {}, o: { sync: 'no' } }), CloseCode.InvalidFrame, 'invalid-frame'],
  ['an unknown opcode', (s) => s.send({ op: 99, d: {} }), CloseCode.UnknownOpcode, 'unknown-opcode'],
  ['op 5 (Internal) from a client', (s) => s.send({ op: 5, d: {}, t: 'DISCONNECT_CLIENT' }), CloseCode.UnknownOpcode, 'unknown-opcode'],
  ['op 1 (server heartbeat) from a client', (s) => s.send({ op: 1, d: {} }), CloseCode.UnknownOpcode, 'unknown-opcode'],
  ['op 10 (hello) from a client', (s) => s.send({ op: 10, d: { rules: [] } }), CloseCode.UnknownOpcode, 'unknown-opcode'],
  ['a binary frame', (s) => s.ws.send(Buffer.from('{"op":0,"d":{}}')), CloseCode.UnsupportedData, 'binary-frame'],
  ['a frame above maxPayload', (s) => s.send({ op: 0, d: { big: 'x'.repeat(2048) } }), CloseCode.MessageTooBig, 'payload-too-large'],
]


describe('bad input', () => {
  it.each(cases)('%s: closes the offending socket with its code and reason, reports it, others go on', async (_, send, code, errorCode) => {
    const { mesa, url } = await startServer({ maxPayload: 1024 })
    const errored = nextEvent(mesa, 'error')
    const bad = await connect(url)
    const good = await connect(url)
    send(bad)
    const closed = await bad.waitClose()
    expect(closed.code).toBe(code)
    if (code !== CloseCode.MessageTooBig) expect(closed.reason.length).toBeGreaterThan(0)
    const [error, client] = await errored
    expect(error).toBeInstanceOf(ProtocolError)
    expect((error as ProtocolError).code).toBe(errorCode)
    expect((error as ProtocolError).closeCode).toBe(code)
    expect(client?.socketId).toEqual(expect.any(String))
    await mesa.send(new Message(0, { still: 'here' }, 'AFTER'))
    expect((await good.waitForMessages(1))[0]!.d).toEqual({ still: 'here' })
    const echoed = nextEvent(mesa, 'message')
    good.send({ op: 0, d: {}, t: 'GOOD' })
    expect((await echoed)[0].type).toBe('GOOD')
  })

  it('truncates a close reason to the 123 bytes a close frame allows', async () => {
    const { url } = await startServer({ client: { enforceEqualVersions: true } })
    const socket = await connect(url)
    socket.send({ op: 0, d: { v: 'é'.repeat(300) }, t: 'CLIENT_VERSION' })
    const closed = await socket.waitClose()
    expect(closed.code).toBe(CloseCode.ProtocolError)
    expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123)
    expect(closed.reason).toMatch(/^client version "é+\.\.\.$/)
  })

  it('cuts a client that does not read what is sent to it, past maxBufferedAmount; others go on', async () => {
    const { mesa, url } = await startServer({ maxBufferedAmount: 64 * 1024 })
    const errors: Error[] = []
    mesa.on('error', (error) => errors.push(error))
    const slow = await connect(url)
    const good = await connect(url)
    const disconnected = nextEvent(mesa, 'disconnection', 20_000)
    // The slow client stops reading: the server's send buffer for it fills up once TCP's buffers are full.
    slow.pauseReading()
    const chunk = 'x'.repeat(64 * 1024)
    for (let i = 0; i < 200 && slow.closeCode === undefined; i++) {
      await mesa.send(new Message(0, { i, chunk }, 'BULK'))
      await new Promise((resolve) => setImmediate(resolve))
      if (errors.some((error) => (error as { code?: string }).code === 'slow-consumer')) break
    }
    expect(errors.map((error) => (error as { code?: string }).code)).toContain('slow-consumer')
    const [code] = await disconnected
    expect(code).toBe(1006)
    expect(mesa.connectionCount).toBe(1)
    await mesa.send(new Message(0, {}, 'AFTER'))
    await good.waitFor('AFTER', () => good.messages.some((f) => f.t === 'AFTER'), 10_000)
  })

  it('survives a burst of garbage from many sockets without an error listener', async () => {
    const { mesa, url } = await startServer()
    const bad = await Promise.all(Array.from({ length: 10 }, () => connect(url)))
    const good = await connect(url)
    for (const [i, socket] of bad.entries()) socket.send(i % 2 ? '{"op":' : { op: 42, d: {} })
    await Promise.all(bad.map((socket) => socket.waitClose()))
    await mesa.send(new Message(0, {}, 'AFTER'))
    await good.waitForMessages(1)
  })

  it('a message listener that rejects is reported (never an unhandled rejection) and later listeners still run', async () => {
    const { mesa, url } = await startServer()
    const ran: string[] = []
    mesa.on('message', async () => {
      ran.push('async')
      throw new Error('async app bug')
    })
    mesa.on('message', () => void ran.push('sync'))
    const errored = nextEvent(mesa, 'error')
    const socket = await connect(url)
    socket.send({ op: 0, d: {}, t: 'X' })
    const [error] = await errored
    expect((error.cause as Error).message).toBe('async app bug')
    expect(ran).toEqual(['async', 'sync'])
  })

  it('a message listener that throws is reported and the socket stays open', async () => {
    const { mesa, url } = await startServer()
    mesa.on('message', () => {
      throw new Error('app bug')
    })
    const errored = nextEvent(mesa, 'error')
    const socket = await connect(url)
    socket.send({ op: 0, d: {}, t: 'X' })
    const [error] = await errored
    expect(error).toMatchObject({ name: 'ServerError', code: 'handler-failed' })
    expect((error.cause as Error).message).toBe('app bug')
    await mesa.send(new Message(0, {}, 'STILL_OPEN'))
    await socket.waitForMessages(1)
  })

  it.each([
    ['a bad frame', (socket: { send(frame: unknown): void }) => socket.send('not json{')],
    ['client.disconnect()', (_socket: unknown, client: ServerClient) => client.disconnect()],
  ])('after %s, a client that ignores the close frame feeds nothing more to the application and is cut', async (_, close) => {
    const { mesa, url } = await startServer({ limits: { closeTimeout: 300 } })
    let handled = 0
    const errors: Error[] = []
    mesa.on('message', () => void handled++)
    mesa.use(() => ({ onMessageReceived: () => void handled++ }))
    mesa.on('error', (error) => errors.push(error))
    const connected = nextEvent(mesa, 'connection')
    const deaf = await rawSocket(url)
    const [client] = await connected
    const disconnected = nextEvent(mesa, 'disconnection')
    close(deaf, client)
    for (let i = 0; i < 400; i++) deaf.send({ op: 0, d: { i }, t: 'AFTER_CLOSE' })
    for (let i = 0; i < 100; i++) deaf.send('still not json{')
    await deaf.cut
    await disconnected
    expect(handled).toBe(0)
    expect(errors.length).toBeLessThanOrEqual(1)
    expect(mesa.connectionCount).toBe(0)
  })
})
