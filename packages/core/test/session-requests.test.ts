import { delay, rejectionOf, Scope, serverFrames, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { AuthenticationError, CloseCode, type Frame, Message, MesaError, QueueFullError, RequestError } from '../src/index.js'
import { framesOf, sessionHarness } from './session-support.js'

/**
 * Requests both ways, acknowledged sends and renewed credentials in the client session, protocol level: a
 * scripted server plays every frame of the server's side.
 */

const scope = new Scope()
afterEach(() => scope.cleanup())
const { serve, client, signIn } = sessionHarness(scope)

const { authenticated, reply, failure, request } = serverFrames

const idOf = (frame: Frame): number => frame.x!.id as number

describe('ClientSession: requests to the server', () => {
  it('sends op 40 with an id and resolves with the reply of op 41', async () => {
    const server = await serve()
    const session = client(server.url)
    const side = await signIn(server, session)
    const pending = session.request(new Message(0, { id: 7 }, 'GET_PROFILE'))
    const sent = await side.frame(40)
    expect(sent).toEqual({ op: 40, d: { id: 7 }, t: 'GET_PROFILE', x: { id: expect.any(Number) } })
    // An answer to nothing pending is ignored.
    side.send(reply(9999, { stray: true }))
    side.send(reply(idOf(sent), { name: 'Ada' }, 'PROFILE'))
    const answer = await pending
    expect(answer).toBeInstanceOf(Message)
    expect(answer).toMatchObject({ opcode: 0, type: 'PROFILE', data: { name: 'Ada' } })
    // A reply without a type is of the request's type.
    const untyped = session.request(new Message(0, {}, 'PING'))
    side.send(reply(idOf(await side.frame(40, 'PING')), { at: 1 }))
    expect(await untyped).toMatchObject({ type: 'PING', data: { at: 1 } })
    // Ids are not reused.
    void session.request(new Message(0, {}, 'NEXT')).catch(() => undefined)
    expect(idOf(await side.frame(40, 'NEXT'))).toBeGreaterThan(idOf(sent))
  })

  it('rejects with the typed failures: rejected (with the handler code), no-handler, too-many-requests', async () => {
    const server = await serve()
    const session = client(server.url)
    const side = await signIn(server, session)
    const answers: [string, string][] = [
      ['out-of-stock', 'only 2 left'],
      ['rejected', 'the request failed'],
      ['no-handler', 'nobody takes NOPE'],
      ['too-many-requests', 'slow down'],
      ['unavailable', 'try later'],
    ]
    const results = answers.map(() => rejectionOf<RequestError>('failure', session.request(new Message(0, {}, 'NOPE'))))
    await waitFor('requests', () => framesOf(side, 40).length === answers.length)
    for (const [i, frame] of framesOf(side, 40).entries()) side.send(failure(idOf(frame), ...answers[i]!))
    const errors = await Promise.all(results)
    expect(errors.every((error) => error instanceof RequestError && error instanceof MesaError)).toBe(true)
    expect(errors.map(({ name, code, rejection, message }) => ({ name, code, rejection, message }))).toEqual([
      { name: 'RequestError', code: 'rejected', rejection: 'out-of-stock', message: 'only 2 left' },
      { name: 'RequestError', code: 'rejected', rejection: 'rejected', message: 'the request failed' },
      { name: 'RequestError', code: 'no-handler', rejection: undefined, message: 'nobody takes NOPE' },
      { name: 'RequestError', code: 'too-many-requests', rejection: undefined, message: 'slow down' },
      { name: 'RequestError', code: 'unavailable', rejection: undefined, message: 'try later' },
    ])
  })

  it('times out (default 10 s, or as given), and ignores a late answer', async () => {
    const server = await serve()
    const session = client(server.url)
    const side = await signIn(server, session)
    const started = performance.now()
    const error = await rejectionOf<RequestError>('timeout', session.request(new Message(0, {}, 'SLOW'), { timeout: 100 }))
    expect(performance.now() - started).toBeGreaterThanOrEqual(95)
    expect(error).toMatchObject({ code: 'timeout' })
    side.send(reply(idOf(await side.frame(40)), { late: true }))
    await delay(20)
    expect(session.state).toBe('authenticated')
  })

  it('rejects a written request with connection-lost when the connection closes, and never sends it again', async () => {
    const server = await serve()
    const session = client(server.url)
    const first = await signIn(server, session)
    const lost = rejectionOf<RequestError>('lost', session.request(new Message(0, {}, 'CHARGE')))
    await first.frame(40)
    first.ws.terminate()
    expect(await lost).toMatchObject({ name: 'RequestError', code: 'connection-lost' })
    const second = await signIn(server, session, 1, true)
    await delay(30)
    expect(framesOf(second, 40)).toEqual([])
  })

  it('queues a request made while it cannot send, and sends it once after re-authentication', async () => {
    const server = await serve()
    const session = client(server.url)
    const first = await signIn(server, session)
    first.ws.terminate()
    await waitFor('reconnecting', () => session.state !== 'authenticated')
    const pending = session.request(new Message(0, { n: 1 }, 'LATER'))
    expect(session.queued).toBe(1)
    const second = await server.connection(1)
    await second.frame(2)
    await delay(20)
    expect(framesOf(second, 40)).toEqual([])
    second.send(authenticated())
    const sent = await second.frame(40)
    second.send(reply(idOf(sent), { ok: true }))
    expect((await pending).data).toEqual({ ok: true })
    expect(session.queued).toBe(0)
  })

  it('bounds the answers awaited: too-many-requests past maxPending', async () => {
    const server = await serve()
    const session = client(server.url, { maxPending: 2 })
    await signIn(server, session)
    const first = session.request(new Message(0, {}, 'A'), { timeout: 0 })
    const second = session.request(new Message(0, {}, 'B'), { timeout: 0 })
    expect(await rejectionOf('third', session.request(new Message(0, {}, 'C')))).toMatchObject({ code: 'too-many-requests' })
    first.catch(() => undefined)
    second.catch(() => undefined)
    expect(() => client(server.url, { maxPending: -1, autoConnect: false })).toThrow(/maxPending/)
  })
})

describe('ClientSession: requests from the server', () => {
  it('answers op 40 with the handler of its type, or the handler of any type, with op 41', async () => {
    const server = await serve()
    const session = client(server.url)
    const side = await signIn(server, session)
    session.onRequest('SUM', (message) => ({ sum: (message.data.a as number) + (message.data.b as number) }))
    const removeAny = session.onRequest(async (message) => new Message(0, { echoed: message.type }, 'ECHO'))
    side.send(request(1, 'SUM', { a: 2, b: 3 }))
    side.send(request(2, 'OTHER', {}))
    await waitFor('two replies', () => framesOf(side, 41).length === 2)
    expect(framesOf(side, 41)).toEqual([
      { op: 41, d: { sum: 5 }, x: { re: 1 } },
      { op: 41, d: { echoed: 'OTHER' }, t: 'ECHO', x: { re: 2 } },
    ])
    removeAny()
    side.send(request(3, 'OTHER', {}))
    await waitFor('no handler', () => framesOf(side, 41).length === 3)
    expect(framesOf(side, 41)[2]).toEqual({ op: 41, d: {}, x: { re: 3, err: { code: 'no-handler', message: 'OTHER' } } })
  })

  it('answers a failing handler with its error only when exposed, else a generic one, and reports the real error', async () => {
    const server = await serve()
    const session = client(server.url)
    const side = await signIn(server, session)
    const errors: Error[] = []
    session.on('error', (error) => errors.push(error))
    session.onRequest('EXPOSED', () => {
      throw Object.assign(new Error('only 2 left'), { expose: true, code: 'out-of-stock' })
    })
    session.onRequest('BUG', async () => {
      throw new Error('database password is hunter2')
    })
    session.onRequest('NOT_AN_OBJECT', () => 'text' as never)
    side.send(request(1, 'EXPOSED'))
    side.send(request(2, 'BUG'))
    side.send(request(3, 'NOT_AN_OBJECT'))
    await waitFor('three replies', () => framesOf(side, 41).length === 3)
    const byId = (re: number) => framesOf(side, 41).find((frame) => frame.x!.re === re)!.x!.err
    expect(byId(1)).toEqual({ code: 'out-of-stock', message: 'only 2 left' })
    expect(byId(2)).toEqual({ code: 'rejected', message: 'rejected' })
    expect(byId(3)).toEqual({ code: 'rejected', message: 'rejected' })
    expect(errors.map((error) => error.message).sort()).toEqual(['a reply is an object', 'database password is hunter2'])
    expect(session.state).toBe('authenticated')
  })
})

describe('ClientSession: acknowledged sends', () => {
  it('sends op 0 with an id and resolves on its op 41; plain sends are unchanged', async () => {
    const server = await serve()
    const session = client(server.url)
    const side = await signIn(server, session)
    const acked = session.send(new Message(0, { n: 1 }, 'ORDER'), { ack: true })
    expect(session.send(new Message(0, { n: 2 }, 'PLAIN'))).toBeUndefined()
    const sent = await side.frame(0, 'ORDER')
    expect(sent).toEqual({ op: 0, d: { n: 1 }, t: 'ORDER', x: { id: expect.any(Number) } })
    expect(await side.frame(0, 'PLAIN')).toEqual({ op: 0, d: { n: 2 }, t: 'PLAIN' })
    expect(session.queued).toBe(1)
    side.send(reply(idOf(sent)))
    await expect(acked).resolves.toBeUndefined()
    expect(session.queued).toBe(0)
  })

  it('writes unacknowledged sends again with the same ids after re-authentication, in order, before what was queued later', async () => {
    const server = await serve()
    const session = client(server.url)
    const first = await signIn(server, session)
    const acks = [1, 2, 3].map((n) => session.send(new Message(0, { n }, 'ORDER'), { ack: true }))
    await waitFor('written', () => framesOf(first, 0).length === 3)
    const ids = framesOf(first, 0).map(idOf)
    first.send(reply(ids[1]!))
    await acks[1]
    const cid = (await first.frame(2)).x!.cid
    first.ws.terminate()
    await waitFor('reconnecting', () => session.state !== 'authenticated')
    session.send(new Message(0, { n: 'later' }, 'PLAIN'))
    const fourth = session.send(new Message(0, { n: 4 }, 'ORDER'), { ack: true })
    const second = await server.connection(1)
    const auth = await second.frame(2)
    expect(auth.x!.cid).toBe(cid)
    await delay(20)
    expect(framesOf(second, 0)).toEqual([])
    second.send(authenticated())
    await waitFor('written again', () => framesOf(second, 0).length === 4)
    expect(framesOf(second, 0).map((frame) => [frame.d.n, frame.x?.id])).toEqual([
      [1, ids[0]],
      [3, ids[2]],
      ['later', undefined],
      [4, expect.any(Number)],
    ])
    for (const frame of framesOf(second, 0)) if (frame.x) second.send(reply(idOf(frame)))
    await Promise.all([...acks, fourth])
    expect(session.queued).toBe(0)
  })

  it('sends again after the server could not take it yet (busy, unavailable, too-many-requests), with the same frame', async () => {
    const server = await serve()
    const session = client(server.url)
    const side = await signIn(server, session)
    const acked = session.send(new Message(0, { n: 1 }, 'ORDER'), { ack: true })
    const sent = await side.frame(0, 'ORDER')
    for (const [attempt, code] of ['busy', 'unavailable', 'too-many-requests'].entries()) {
      side.send(failure(idOf(sent), code))
      await waitFor('sent again', () => framesOf(side, 0).length === attempt + 2)
    }
    expect(framesOf(side, 0)).toEqual([sent, sent, sent, sent])
    side.send(reply(idOf(sent)))
    await acked
  })

  it('rejects with RequestError when the server refuses, and with QueueFullError past the queue bounds', async () => {
    const server = await serve()
    const session = client(server.url, { maxQueueSize: 2 })
    const side = await signIn(server, session)
    const refused = session.send(new Message(0, {}, 'BAD'), { ack: true })
    side.send(failure(idOf(await side.frame(0, 'BAD')), 'invalid', 'no such order'))
    expect(await rejectionOf('refused', refused)).toMatchObject({ name: 'RequestError', code: 'rejected', rejection: 'invalid' })
    // Unacknowledged sends count against the queue's bounds until acknowledged.
    const held = [1, 2].map((n) => session.send(new Message(0, { n }, 'HELD'), { ack: true }))
    expect(await rejectionOf('full', session.send(new Message(0, {}, 'FULL'), { ack: true }))).toBeInstanceOf(QueueFullError)
    expect(() => session.send(new Message(0, {}, 'PLAIN'))).toThrow(QueueFullError)
    const written = await waitFor('held', () => framesOf(side, 0).filter((frame) => frame.t === 'HELD').length === 2 && framesOf(side, 0))
    for (const frame of written.filter((frame) => frame.t === 'HELD')) side.send(reply(idOf(frame)))
    await Promise.all(held)
    session.send(new Message(0, {}, 'PLAIN'))
  })

  it('gives each client object its own id', async () => {
    const server = await serve()
    const one = client(server.url)
    const two = client(server.url)
    const [a, b] = await Promise.all([signIn(server, one, 0), signIn(server, two, 1)])
    expect(a.frames.find((frame) => frame.op === 2)!.x!.cid).not.toBe(b.frames.find((frame) => frame.op === 2)!.x!.cid)
  })
})

describe('ClientSession: against a Mesa 1.x server', () => {
  it('rejects requests and acknowledged sends with unsupported, queued or not, and sends plain messages as before', async () => {
    const server = await serve({ hello: () => ({ op: 10, d: { rules: [] } }) })
    const session = client(server.url, { autoConnect: false })
    const early = rejectionOf<RequestError>('early', session.request(new Message(0, {}, 'Q')))
    const earlyAck = rejectionOf<RequestError>('early ack', session.send(new Message(0, {}, 'A'), { ack: true }))
    session.send(new Message(0, { n: 1 }, 'PLAIN'))
    await session.connect()
    expect(await early).toMatchObject({ name: 'RequestError', code: 'unsupported' })
    expect(await earlyAck).toMatchObject({ code: 'unsupported' })
    const side = await server.connection(0)
    const auth = session.authenticate({})
    expect(await side.frame(2)).toEqual({ op: 2, d: { shouldSync: true } })
    side.send(authenticated())
    await auth
    expect(await rejectionOf('late', session.request(new Message(0, {}, 'Q')))).toMatchObject({ code: 'unsupported' })
    session.send(new Message(0, { n: 2 }, 'PLAIN'))
    await waitFor('plain messages', () => framesOf(side, 0).length === 2)
    expect(framesOf(side, 0)).toEqual([
      { op: 0, d: { n: 1 }, t: 'PLAIN' },
      { op: 0, d: { n: 2 }, t: 'PLAIN' },
    ])
    expect(session.queued).toBe(0)
  })
})

describe('ClientSession: credentials', () => {
  it('calls getCredentials before every authentication and merges its result over the data', async () => {
    const server = await serve()
    let calls = 0
    const session = client(server.url, { getCredentials: async () => ({ token: `fresh-${++calls}` }) })
    const first = await server.connection(0)
    const done = session.authenticate({ device: 'd', token: 'stale' })
    expect((await first.frame(2)).d).toEqual({ device: 'd', token: 'fresh-1', shouldSync: true })
    first.send(authenticated())
    await done
    first.ws.close(CloseCode.AuthenticationExpired, 'expired')
    const second = await server.connection(1)
    expect((await second.frame(2)).d).toEqual({ device: 'd', token: 'fresh-2', shouldSync: true })
  })

  it('renews the authentication on the open socket when the server asks (op 35), keeping everything', async () => {
    const server = await serve()
    let calls = 0
    const session = client(server.url, { getCredentials: () => ({ token: `t${++calls}` }) })
    const side = await server.connection(0)
    const done = session.authenticate()
    await side.frame(2)
    side.send(authenticated())
    await done
    const errors: Error[] = []
    session.on('error', (error) => errors.push(error))
    side.send({ op: 35, d: {}, x: { exp: Date.now() + 30_000 } })
    const renewal = await waitFor('renewal', () => framesOf(side, 2)[1])
    expect(renewal).toEqual({ op: 2, d: { token: 't2', shouldSync: true }, x: { cid: expect.any(String), refresh: true, id: expect.any(Number) } })
    side.send(reply(idOf(renewal)))
    // A refused renewal is reported; the server then closes with 4008 and the client comes back.
    side.send({ op: 35, d: {}, x: {} })
    const refused = await waitFor('second renewal', () => framesOf(side, 2)[2])
    side.send(failure(idOf(refused), 'rejected', 'token revoked'))
    await waitFor('error', () => errors[0])
    expect(errors[0]).toBeInstanceOf(AuthenticationError)
    expect(errors[0]).toMatchObject({ code: 'rejected', message: 'token revoked' })
    expect(session.state).toBe('authenticated')
    side.ws.close(CloseCode.AuthenticationExpired, 'authentication expired')
    const second = await server.connection(1)
    expect((await second.frame(2)).d).toEqual({ token: 't4', shouldSync: true })
  })

  it('reports a getCredentials failure, ends that authentication as a timeout, and tries again on the next connection', async () => {
    const server = await serve()
    let calls = 0
    const session = client(server.url, {
      authenticationTimeout: 200,
      getCredentials: () => {
        if (++calls === 1) throw new Error('token service down')
        return { token: 'ok' }
      },
    })
    const errors: Error[] = []
    session.on('error', (error) => errors.push(error))
    await server.connection(0)
    const first = session.authenticate()
    expect(await rejectionOf('first', first)).toMatchObject({ code: 'timeout' })
    expect(errors.map((error) => error.message)).toEqual(['token service down'])
    const second = await server.connection(1)
    expect((await second.frame(2)).d).toEqual({ token: 'ok', shouldSync: true })
    expect(framesOf(server.sockets[0]!, 2)).toEqual([])
  })
})
