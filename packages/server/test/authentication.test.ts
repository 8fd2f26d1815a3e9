import { describe, expect, it } from 'vitest'
import { delay, nextEvent } from '@mesa/test-kit'
import { CloseCode, Message, type ServerClient, type ServerError } from '../src/index.js'
import { connect, deepMerge, startServer } from './helpers.js'

describe('authentication', () => {
  it('answers op 22 with the user object, registers the user id, and passes shouldSync along', async () => {
    const { mesa, url } = await startServer()
    const seen: Record<string, unknown>[] = []
    mesa.on('connection', (client) =>
      client.authenticate((data, done) => {
        seen.push({ ...data })
        done(null, { id: 7, user: { name: 'Ada' } })
      }),
    )
    const socket = await connect(url)
    const ack = await socket.authenticate({ token: 't', shouldSync: true })
    expect(ack).toEqual({ op: 22, d: { name: 'Ada' } })
    expect(seen).toEqual([{ token: 't', shouldSync: true }])
    await mesa.send(new Message(0, {}, 'FOR_7'), ['7'])
    await socket.waitForMessages(1)
  })

  it('sends {} in op 22 without sendUserObject', async () => {
    const { mesa, url } = await startServer({ authentication: { sendUserObject: false } })
    mesa.on('connection', (client) => client.authenticate((_, done) => done(null, { id: 'a', user: { secret: 1 } })))
    const socket = await connect(url)
    expect(await socket.authenticate({})).toEqual({ op: 22, d: {} })
  })

  it('closes with 1008 when the handler fails (disconnectOnFail), including when it throws', async () => {
    const { mesa, url } = await startServer()
    const errors: Error[] = []
    mesa.on('error', (error) => errors.push(error))
    mesa.on('connection', (client) =>
      client.authenticate((data, done) => {
        if (data.mode === 'throw') throw new Error('handler bug')
        done(Object.assign(new Error('bad token'), { expose: true }))
      }),
    )
    const rejected = await connect(url)
    const throwing = await connect(url)
    rejected.send({ op: 2, d: { token: 'nope' } })
    throwing.send({ op: 2, d: { mode: 'throw' } })
    expect(await rejected.waitClose()).toEqual({ code: CloseCode.AuthenticationFailed, reason: 'bad token' })
    expect(await throwing.waitClose()).toEqual({ code: CloseCode.AuthenticationFailed, reason: 'authentication failed' })
    expect(errors.some((error) => error.message.includes('threw'))).toBe(true)
  })

  it("tells the client a refusal's message only when the application marked it for the client (expose)", async () => {
    const { mesa, url } = await startServer()
    mesa.on('connection', (client) =>
      client.authenticate((_, done) => done(new Error('pg: connect ECONNREFUSED 10.1.2.3:5432 user=admin'))),
    )
    const socket = await connect(url)
    socket.send({ op: 2, d: { token: 'x' } })
    expect(await socket.waitClose()).toEqual({ code: CloseCode.AuthenticationFailed, reason: 'authentication failed' })
  })

  it('an async handler that rejects fails the authentication and is reported, never an unhandled rejection', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      const { mesa, url } = await startServer()
      const errors: ServerError[] = []
      mesa.on('error', (error) => errors.push(error as ServerError))
      mesa.on('connection', (client) =>
        client.authenticate(async (data, done) => {
          if (data.late) {
            done(null, { id: 'late', user: {} })
            throw new Error('failed after done')
          }
          await Promise.reject(new Error('lookup failed: ECONNREFUSED'))
          done(null, { id: 'never', user: {} })
        }),
      )
      const socket = await connect(url)
      socket.send({ op: 2, d: { token: 'x' } })
      expect(await socket.waitClose()).toEqual({ code: CloseCode.AuthenticationFailed, reason: 'authentication failed' })
      const late = await connect(url)
      expect((await late.authenticate({ late: true })).op).toBe(22)
      await delay(50)
      expect(errors.map((error) => [error.code, (error.cause as Error).message])).toEqual([
        ['authentication-handler-failed', 'lookup failed: ECONNREFUSED'],
        ['authentication-handler-failed', 'failed after done'],
      ])
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('keeps the socket open after a failure without disconnectOnFail, and lets it retry', async () => {
    const { mesa, url } = await startServer({ authentication: { disconnectOnFail: false } })
    mesa.on('connection', (client) =>
      client.authenticate((data, done) => (data.ok ? done(null, { id: 'x', user: {} }) : done(new Error('no')))),
    )
    const socket = await connect(url)
    socket.send({ op: 2, d: { ok: false } })
    await delay(50)
    expect(socket.closeCode).toBeUndefined()
    expect((await socket.authenticate({ ok: true })).op).toBe(22)
  })

  it('reports a handler result without id or user and does not authenticate', async () => {
    const { mesa, url } = await startServer()
    const errored = nextEvent(mesa, 'error')
    mesa.on('connection', (client) => client.authenticate((_, done) => done(null, { user: {} } as never)))
    const socket = await connect(url)
    socket.send({ op: 2, d: {} })
    const [error] = await errored
    expect(error.message).toMatch(/done\(null, \{ id, user \}\)/)
    expect((await socket.waitClose()).code).toBe(CloseCode.AuthenticationFailed)
  })

  it('closes sockets that do not authenticate in time with 4002; authenticated ones stay', async () => {
    const { mesa, url } = await startServer({ authentication: { timeout: 150 } })
    mesa.on('connection', (client) => client.authenticate((_, done) => done(null, { id: 'a', user: {} })))
    const idle = await connect(url)
    const quick = await connect(url)
    await quick.authenticate({})
    expect(idle.hello.d.c_authentication_timeout).toBe(150)
    const closed = await idle.waitClose()
    expect(closed.code).toBe(CloseCode.AuthenticationTimeout)
    expect(closed.reason).toMatch(/not authenticated within 150 ms/)
    await delay(200)
    expect(quick.closeCode).toBeUndefined()
  })

  it('does not time out sockets of an application that does not authenticate (unless required)', async () => {
    const { url } = await startServer({ authentication: { timeout: 50 } })
    const socket = await connect(url)
    await delay(200)
    expect(socket.closeCode).toBeUndefined()
    const { url: strictUrl } = await startServer({ authentication: { timeout: 50, required: true } })
    const strict = await connect(strictUrl)
    expect((await strict.waitClose()).code).toBe(CloseCode.AuthenticationTimeout)
  })

  it('required: unauthenticated sockets get no broadcast and their messages are not taken', async () => {
    const { mesa, url } = await startServer({ authentication: { required: true } })
    mesa.on('connection', (client) => client.authenticate((data, done) => done(null, { id: String(data.id), user: {} })))
    const received: string[] = []
    mesa.on('message', (message) => received.push(String(message.type)))
    const anonymous = await connect(url)
    const member = await connect(url)
    await member.authenticate({ id: 'm' })
    anonymous.send({ op: 0, d: {}, t: 'FROM_ANONYMOUS' })
    member.send({ op: 0, d: {}, t: 'FROM_MEMBER' })
    await mesa.send(new Message(0, {}, 'BROADCAST'))
    await member.waitForMessages(1)
    await delay(50)
    expect(anonymous.messages).toEqual([])
    expect(received).toEqual(['FROM_MEMBER'])
  })

  it('several sockets per user each get op 22 and the user messages; closing one keeps the others', async () => {
    const { mesa, url } = await startServer()
    mesa.on('connection', (client) => client.authenticate((data, done) => done(null, { id: String(data.id), user: {} })))
    const sockets = await Promise.all([0, 1, 2].map(() => connect(url)))
    for (const socket of sockets) await socket.authenticate({ id: 'same' })
    expect(await mesa.adapter!.presence.areOnline(['same'])).toEqual([true])
    sockets[0]!.close()
    await sockets[0]!.waitClose()
    await mesa.send(new Message(0, {}, 'AFTER'), ['same'])
    await sockets[1]!.waitForMessages(1)
    await sockets[2]!.waitForMessages(1)
    expect(await mesa.adapter!.presence.areOnline(['same'])).toEqual([true])
    sockets[1]!.close()
    sockets[2]!.close()
    await Promise.all([sockets[1]!.waitClose(), sockets[2]!.waitClose()])
    await delay(50)
    expect(await mesa.adapter!.presence.areOnline(['same'])).toEqual([false])
  })

  it('storeConnectedUsers: false keeps presence untouched', async () => {
    const { mesa, url } = await startServer({ authentication: { storeConnectedUsers: false } })
    mesa.on('connection', (client) => client.authenticate((_, done) => done(null, { id: 'p', user: {} })))
    const socket = await connect(url)
    await socket.authenticate({})
    expect(await mesa.adapter!.presence.areOnline(['p'])).toEqual([false])
  })

  it('auth data with __proto__ / constructor / prototype keys cannot change any prototype', async () => {
    const { mesa, url } = await startServer()
    let seen: Record<string, unknown> | undefined
    mesa.on('connection', (client) =>
      client.authenticate((data, done) => {
        seen = data
        const assigned = Object.assign({}, data) as { isAdmin?: boolean }
        const merged = deepMerge({}, data) as { isAdmin?: boolean }
        done(null, { id: 'p', user: { assigned: assigned.isAdmin === true, merged: merged.isAdmin === true } })
      }),
    )
    const socket = await connect(url)
    const ack = await socket.authenticate(
      JSON.parse(
        '{"name":"eve","__proto__":{"isAdmin":true,"polluted":1},"constructor":{"prototype":{"polluted":2}},' +
          '"nested":{"__proto__":{"polluted":3},"ok":true}}',
      ),
    )
    expect(ack.d).toEqual({ assigned: false, merged: false })
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
    expect(Object.getPrototypeOf(seen)).toBeNull()
    expect({ ...seen }).toEqual({ name: 'eve', nested: { ok: true }, shouldSync: undefined })
  })

  it('client getters reflect the authentication', async () => {
    const { mesa, url } = await startServer()
    const clients: ServerClient[] = []
    mesa.on('connection', (client) => {
      clients.push(client)
      client.authenticate((_, done) => done(null, { id: 'g', user: { n: 1 } }))
    })
    const socket = await connect(url, { v2: true })
    expect(clients[0]!.authenticated).toBe(false)
    expect(clients[0]!.id).toBeUndefined()
    await socket.authenticate({})
    expect(clients[0]!.authenticated).toBe(true)
    expect(clients[0]!.id).toBe('g')
    expect(clients[0]!.userId).toBe('g')
    expect(clients[0]!.user).toEqual({ n: 1 })
    expect(clients[0]!.protocol).toBe(2)
    expect(clients[0]!.upgradeRequest.headers['sec-websocket-protocol']).toBe('mesa.v2')
  })
})
