import { delay, nextEvent, sendRequest } from '@mesa/test-kit'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { CloseCode, Mesa, Message, type ProtocolError, RequestRejection, type ServerError } from '../src/index.js'
import { acceptIds, connect, startServer, track, user } from './helpers.js'

describe('requests from clients (op 40 -> op 41)', () => {
  it("answers with the handler's reply: plain data takes the request's type, a Message its own; sync or async", async () => {
    const { mesa, url } = await startServer()
    const seen: unknown[] = []
    mesa.onRequest('ADD', (message, client) => {
      seen.push([message.type, message.data, client.protocol])
      return { sum: (message.data.a as number) + (message.data.b as number) }
    })
    mesa.onRequest('ROOM', async (message) => {
      await delay(5)
      return new Message(0, { name: `room ${message.data.id}` }, 'ROOM_INFO')
    })
    mesa.onRequest('NOTHING', () => undefined)
    const socket = await connect(url, { v2: true })
    const [sum, room, nothing] = await Promise.all([
      sendRequest(socket, 'ADD', { a: 2, b: 3 }, 1),
      sendRequest(socket, 'ROOM', { id: 7 }, 2),
      sendRequest(socket, 'NOTHING', {}, 3),
    ])
    expect(sum).toEqual({ op: 41, d: { sum: 5 }, t: 'ADD', x: { re: 1 } })
    expect(room).toEqual({ op: 41, d: { name: 'room 7' }, t: 'ROOM_INFO', x: { re: 2 } })
    expect(nothing).toEqual({ op: 41, d: {}, t: 'NOTHING', x: { re: 3 } })
    expect(seen).toEqual([['ADD', { a: 2, b: 3 }, 2]])
  })

  it('a catch-all handler answers the types without their own; a later onRequest replaces a type handler', async () => {
    const { mesa, url } = await startServer()
    mesa.onRequest((message) => ({ any: message.type }))
    mesa.onRequest('A', () => ({ first: true }))
    mesa.onRequest('A', () => ({ second: true }))
    const socket = await connect(url, { v2: true })
    expect((await sendRequest(socket, 'A', {}, 1)).d).toEqual({ second: true })
    expect((await sendRequest(socket, 'B', {}, 2)).d).toEqual({ any: 'B' })
    expect(() => mesa.onRequest('', () => ({}))).toThrow(TypeError)
    expect(() => (mesa.onRequest as unknown as (type: string) => void).call(mesa, 'A')).toThrow(TypeError)
  })

  it('a RequestRejection reaches the client with its code and message; any other failure as a generic rejected, reported', async () => {
    const { mesa, url } = await startServer()
    const errors: ServerError[] = []
    mesa.on('error', (error) => errors.push(error as ServerError))
    mesa.onRequest('FIND', (message) => {
      if (message.data.mode === 'reject') throw new RequestRejection('not-found', 'no such room')
      if (message.data.mode === 'async-reject') return Promise.reject(new RequestRejection('gone', 'deleted'))
      if (message.data.mode === 'exposed') throw Object.assign(new Error('quota exceeded'), { expose: true, code: 'quota' })
      if (message.data.mode === 'array') return [1, 2] as unknown as object
      throw new Error('pg: connect ECONNREFUSED 10.1.2.3:5432')
    })
    const socket = await connect(url, { v2: true })
    const answers = await Promise.all(
      ['reject', 'async-reject', 'exposed', 'bug', 'array'].map((mode, i) => sendRequest(socket, 'FIND', { mode }, i + 1)),
    )
    expect(answers.map((a) => a.x)).toEqual([
      { re: 1, err: { code: 'not-found', message: 'no such room' } },
      { re: 2, err: { code: 'gone', message: 'deleted' } },
      { re: 3, err: { code: 'quota', message: 'quota exceeded' } },
      { re: 4, err: { code: 'rejected', message: 'the request failed' } },
      { re: 5, err: { code: 'rejected', message: 'the request failed' } },
    ])
    expect(answers.every((a) => JSON.stringify(a.d) === '{}')).toBe(true)
    // Only the two failures the application did not mean for the client are reported.
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      ['handler-failed', 'the request handler for FIND failed: pg: connect ECONNREFUSED 10.1.2.3:5432'],
      ['handler-failed', 'the request handler for FIND answered with no valid reply: a reply is a Message or an object, got an array'],
    ])
    expect(socket.isOpen).toBe(true)
  })

  it('answers no-handler when no handler takes the type and portals are off', async () => {
    const { mesa, url } = await startServer()
    mesa.onRequest('KNOWN', () => ({}))
    const socket = await connect(url, { v2: true })
    expect((await sendRequest(socket, 'UNKNOWN', {}, 1)).x).toEqual({
      re: 1,
      err: { code: 'no-handler', message: 'no handler answers requests of type UNKNOWN' },
    })
  })

  it('answers timeout when the handler takes longer than requests.timeout, and drops its late answer', async () => {
    const { mesa, url } = await startServer({ requests: { timeout: 50 } })
    let finish: (value: object) => void = () => {}
    mesa.onRequest('SLOW', () => new Promise<object>((resolve) => (finish = resolve)))
    const socket = await connect(url, { v2: true })
    expect((await sendRequest(socket, 'SLOW', {}, 1)).x).toEqual({ re: 1, err: { code: 'timeout', message: 'no answer within 50 ms' } })
    finish({ late: true })
    await delay(20)
    expect(socket.frames.filter((f) => f.op === 41)).toHaveLength(1)
    // The slot is free again.
    mesa.onRequest('SLOW', () => ({ fast: true }))
    expect((await sendRequest(socket, 'SLOW', {}, 1)).d).toEqual({ fast: true })
  })

  it('bounds the requests a socket has waiting (requests.maxPending): beyond, too-many-requests', async () => {
    const { mesa, url } = await startServer({ requests: { maxPending: 2 } })
    const finishers: (() => void)[] = []
    mesa.onRequest('WAIT', () => new Promise<object>((resolve) => finishers.push(() => resolve({}))))
    const socket = await connect(url, { v2: true })
    const first = sendRequest(socket, 'WAIT', {}, 1)
    const second = sendRequest(socket, 'WAIT', {}, 2)
    expect((await sendRequest(socket, 'WAIT', {}, 3)).x).toEqual({
      re: 3,
      err: { code: 'too-many-requests', message: 'at most 2 requests may wait for an answer' },
    })
    // Another socket has its own bound.
    const other = await connect(url, { v2: true })
    const third = sendRequest(other, 'WAIT', {}, 1)
    await delay(10)
    for (const finish of finishers) finish()
    expect((await Promise.all([first, second, third])).map((a) => a.x)).toEqual([{ re: 1 }, { re: 2 }, { re: 1 }])
  })

  it('with authentication.required, an unauthenticated socket is answered not-authenticated and no handler runs', async () => {
    const { mesa, url } = await startServer({ authentication: { required: true } })
    acceptIds(mesa)
    let calls = 0
    mesa.onRequest('Q', () => ({ calls: ++calls }))
    const anonymous = await connect(url, { v2: true })
    expect((await sendRequest(anonymous, 'Q', {}, 1)).x?.err).toEqual({ code: 'not-authenticated', message: 'authenticate before making requests' })
    const ada = await user(url, 'ada', true)
    expect((await sendRequest(ada, 'Q', {}, 1)).d).toEqual({ calls: 1 })
  })

  it('closes a socket whose request breaks the protocol: no x.id, no type, an id already waiting (4000); and 1.x sockets (4001)', async () => {
    const { mesa, url } = await startServer()
    const errors: ProtocolError[] = []
    mesa.on('error', (error) => errors.push(error as ProtocolError))
    mesa.onRequest('WAIT', () => new Promise<object>(() => {}))
    const cases: [object, number, string][] = [
      [{ op: 40, t: 'WAIT', d: {} }, CloseCode.InvalidFrame, 'a request (op 40) needs x.id, a positive integer'],
      [{ op: 40, t: 'WAIT', d: {}, x: { id: 1.5 } }, CloseCode.InvalidFrame, 'a request (op 40) needs x.id, a positive integer'],
      [{ op: 40, d: {}, x: { id: 1 } }, CloseCode.InvalidFrame, 'a request (op 40) needs a type (t)'],
    ]
    for (const [frame, code, reason] of cases) {
      const socket = await connect(url, { v2: true })
      socket.send(frame)
      expect(await socket.waitClose()).toEqual({ code, reason })
    }
    const twice = await connect(url, { v2: true })
    twice.send({ op: 40, t: 'WAIT', d: {}, x: { id: 4 } })
    twice.send({ op: 40, t: 'WAIT', d: {}, x: { id: 4 } })
    expect(await twice.waitClose()).toEqual({ code: CloseCode.InvalidFrame, reason: 'request 4 is already waiting for its answer' })
    for (const op of [40, 41]) {
      const legacy = await connect(url)
      legacy.send({ op, t: 'WAIT', d: {}, x: { id: 1 } })
      expect(await legacy.waitClose()).toEqual({
        code: CloseCode.UnknownOpcode,
        reason: `opcode ${op} is protocol 2's; this socket speaks 1.x`,
      })
    }
    expect(errors.every((e) => e.name === 'ProtocolError')).toBe(true)
  })

  it('drops the answer to a socket that closed; the handler still ran and nothing is reported', async () => {
    const { mesa, url } = await startServer()
    const errors: Error[] = []
    mesa.on('error', (error) => errors.push(error))
    let finish: () => void = () => {}
    const started = new Promise<void>((resolve) => {
      mesa.onRequest('SLOW', () => {
        resolve()
        return new Promise<object>((done) => (finish = () => done({})))
      })
    })
    const socket = await connect(url, { v2: true })
    socket.send({ op: 40, t: 'SLOW', d: {}, x: { id: 1 } })
    await started
    const gone = nextEvent(mesa, 'disconnection')
    socket.terminate()
    await gone
    finish()
    await delay(10)
    expect(errors).toEqual([])
  })

  it('types handlers from the request map', async () => {
    type Requests = { GET_ROOM: { request: { id: string }; reply: { name: string } } }
    const mesa = track(new Mesa<{ HI: object }, { HO: object }, unknown, Requests>({ port: 0, host: '127.0.0.1' }))
    mesa.onRequest('GET_ROOM', (message) => {
      expectTypeOf(message.data).toEqualTypeOf<{ id: string }>()
      return { name: message.data.id }
    })
    // @ts-expect-error: the reply needs a name
    mesa.onRequest('GET_ROOM', () => ({ title: 'x' }))
    // @ts-expect-error: not a request type of the map
    mesa.onRequest('OTHER', () => ({}))
    mesa.onRequest((message) => ({ type: message.type }))
    await mesa.listening()
  })
})

describe('request options', () => {
  it.each([
    [{ requests: { maxPending: 0 } }, 'Mesa: option "requests.maxPending" must be an integer from 1 to 1000000, got number 0'],
    [{ requests: { timeot: 1 } }, 'unknown option "requests.timeot"; did you mean "requests.timeout"?'],
    [{ acks: { window: -1 } }, 'Mesa: option "acks.window" must be an integer from 1 to 9007199254740991, got number -1'],
    [{ acks: { maxInFlightBytes: 100 } }, 'Mesa: option "acks.maxInFlightBytes" must be at least maxPayload (1048576)'],
    [{ authentication: { refreshBefore: '30s' } }, 'Mesa: option "authentication.refreshBefore" must be an integer'],
  ])('refuses %j', (options, message) => {
    expect(() => track(new Mesa(options as never))).toThrow(message)
  })
})
