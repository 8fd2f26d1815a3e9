import { answerRequests, nextEvent, rejectionOf, type RawClient } from '@mesa/test-kit'
import { describe, expect, it } from 'vitest'
import { type Mesa, Message, RequestError, type ServerClient, type ServerError } from '../src/index.js'
import { connect, startServer } from './helpers.js'

/** A server and one raw client on it (v2 unless said), with the server's view of that client. */
async function pair(v2 = true, options: Parameters<typeof startServer>[0] = {}): Promise<{ mesa: Mesa; socket: RawClient; client: ServerClient }> {
  const { mesa, url } = await startServer(options)
  const connected = nextEvent(mesa, 'connection')
  const socket = await connect(url, { v2 })
  const [client] = await connected
  return { mesa, socket, client }
}

describe('requests from the server to a client (client.request)', () => {
  it("resolves with the client's reply: its type, or the request's when the reply has none; typed by R", async () => {
    const { socket, client } = await pair()
    answerRequests(socket, (frame) => (frame.t === 'PING' ? { d: { pong: frame.d.n } } : { d: { name: 'x' }, t: 'INFO' }))
    const pong = await client.request<{ pong: number }>(new Message(0, { n: 3 }, 'PING'))
    expect(pong).toBeInstanceOf(Message)
    expect([pong.type, pong.data.pong]).toEqual(['PING', 3])
    const info = await client.request(new Message(0, {}, 'WHO'))
    expect([info.type, info.data]).toEqual(['INFO', { name: 'x' }])
    // On the wire: op 40 with ids counting up from 1.
    expect(socket.frames.filter((f) => f.op === 40)).toEqual([
      { op: 40, d: { n: 3 }, t: 'PING', x: { id: 1 } },
      { op: 40, d: {}, t: 'WHO', x: { id: 2 } },
    ])
  })

  it("rejects with RequestError: rejected with the client's code, no-handler, and timeout", async () => {
    const { socket, client } = await pair()
    answerRequests(socket, (frame) => {
      if (frame.t === 'DENY') return { err: { code: 'forbidden', message: 'not you' } }
      if (frame.t === 'NONE') return { err: { code: 'no-handler', message: 'no handler for NONE' } }
      return undefined
    })
    const denied = await rejectionOf<RequestError>('DENY', client.request(new Message(0, {}, 'DENY')))
    expect(denied).toBeInstanceOf(RequestError)
    expect([denied.code, denied.rejection, denied.message]).toEqual(['rejected', 'forbidden', 'not you'])
    const none = await rejectionOf<RequestError>('NONE', client.request(new Message(0, {}, 'NONE')))
    expect([none.code, none.rejection]).toEqual(['no-handler', undefined])
    const silent = await rejectionOf<RequestError>('SILENT', client.request(new Message(0, {}, 'SILENT'), { timeout: 30 }))
    expect([silent.code, silent.message]).toEqual(['timeout', 'no answer to SILENT within 30 ms'])
    // A late answer, and one to a request never made, are ignored.
    socket.send({ op: 41, d: {}, x: { re: 3 } })
    socket.send({ op: 41, d: {}, x: { re: 99 } })
    socket.send({ op: 41, d: {}, x: {} })
    answerRequests(socket, () => ({ d: { ok: true } }))
    expect((await client.request(new Message(0, {}, 'AGAIN'))).data).toEqual({ ok: true })
    expect(socket.isOpen).toBe(true)
  })

  it('rejects with connection-lost when the socket closes first, and at once on a closed socket', async () => {
    const { mesa, socket, client } = await pair()
    const waiting = client.request(new Message(0, {}, 'Q'), { timeout: 5000 })
    const gone = nextEvent(mesa, 'disconnection')
    socket.terminate()
    const lost = await rejectionOf<RequestError>('Q', waiting)
    expect([lost.code, lost.message]).toEqual(['connection-lost', 'the connection closed before the client answered'])
    await gone
    expect((await rejectionOf<RequestError>('after', client.request(new Message(0, {}, 'Q')))).code).toBe('connection-lost')
  })

  it('rejects with unsupported on a Mesa 1.x socket, writing nothing', async () => {
    const { socket, client } = await pair(false)
    const before = socket.frames.length
    const error = await rejectionOf<RequestError>('1.x', client.request(new Message(0, {}, 'Q')))
    expect([error.name, error.code]).toEqual(['RequestError', 'unsupported'])
    expect(socket.frames.length).toBe(before)
  })

  it('bounds the requests waiting per socket (requests.maxPending): beyond, too-many-requests', async () => {
    const { socket, client } = await pair(true, { requests: { maxPending: 2 } })
    const first = client.request(new Message(0, {}, 'Q'))
    const second = client.request(new Message(0, {}, 'Q'))
    expect((await rejectionOf<RequestError>('third', client.request(new Message(0, {}, 'Q')))).code).toBe('too-many-requests')
    socket.send({ op: 41, d: { n: 1 }, x: { re: 1 } })
    socket.send({ op: 41, d: { n: 2 }, x: { re: 2 } })
    expect((await Promise.all([first, second])).map((m) => m.data)).toEqual([{ n: 1 }, { n: 2 }])
  })

  it('refuses bad arguments: a message without a type, data JSON cannot encode, a bad timeout', async () => {
    const { client } = await pair()
    const untyped = await rejectionOf<ServerError>('untyped', client.request(new Message(0, {})))
    expect([untyped.name, untyped.code]).toEqual(['ServerError', 'invalid-message'])
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect((await rejectionOf<ServerError>('cyclic', client.request(new Message(0, cyclic, 'C')))).code).toBe('invalid-message')
    expect(await rejectionOf('timeout', client.request(new Message(0, {}, 'T'), { timeout: 0 }))).toBeInstanceOf(TypeError)
  })
})
