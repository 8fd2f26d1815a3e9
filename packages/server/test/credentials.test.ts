import { delay, refresh, waitFor } from '@mesa/test-kit'
import { describe, expect, it } from 'vitest'
import { CloseCode, type Mesa, Message, type ServerError } from '../src/index.js'
import { connect, startServer } from './helpers.js'

/**
 * Authenticates `data.id` as user `data.as ?? data.id`; `data.ttl` (ms) makes the authentication expire that long
 * from now, `data.expiresAt` at that time as given; `data.refuse` refuses it (exposed).
 */
function expiringAuthentication(mesa: Mesa): void {
  mesa.on('connection', (client) =>
    client.authenticate((data, done) => {
      if (data.refuse) {
        done(Object.assign(new Error('token revoked'), { expose: true }))
        return
      }
      const expiresAt = typeof data.ttl === 'number' ? Date.now() + data.ttl : (data.expiresAt as number | undefined)
      done(null, { id: String(data.as ?? data.id), user: { name: data.id, version: data.version }, expiresAt })
    }),
  )
}

describe('authentications that expire, and refreshing them on the open socket', () => {
  it('op 22 carries x.exp; op 35 asks refreshBefore ahead; a refresh answers op 41 with the new expiry and keeps the socket as it was', async () => {
    const { mesa, url } = await startServer({ sync: { enabled: true }, authentication: { refreshBefore: 600 } })
    expiringAuthentication(mesa)
    const socket = await connect(url, { v2: true })
    const ack = await socket.authenticate({ id: 'ada', ttl: 800 })
    const exp = ack.x?.exp as number
    expect(exp).toBeGreaterThan(Date.now())
    await mesa.send(new Message(0, { n: 1 }, 'N'), ['ada'])
    await socket.waitForDelivered(1)
    const position = socket.positions.user
    await socket.waitFor('op 35', () => socket.frames.some((f) => f.op === 35))
    expect(socket.frames.find((f) => f.op === 35)).toEqual({ op: 35, d: {}, x: { exp } })
    const authenticated: string[] = []
    mesa.on('authenticated', (client) => void authenticated.push(client.userId!))
    const before = socket.frames.length
    const reply = await refresh(socket, { id: 'ada', ttl: 60_000, version: 2 }, 1)
    const newExp = reply.x?.exp as number
    expect(reply).toEqual({ op: 41, d: { name: 'ada', version: 2 }, x: { re: 1, exp: newExp } })
    expect(newExp).toBeGreaterThan(exp)
    expect(mesa.clients[0]!.user).toEqual({ name: 'ada', version: 2 })
    // Past the old expiry the socket is open; nothing was replayed, no op 22, and the stream goes on from its position.
    await delay(Math.max(0, exp - Date.now()) + 50)
    expect(socket.isOpen).toBe(true)
    expect(socket.frames.slice(before).map((f) => f.op)).toEqual([41])
    await mesa.send(new Message(0, { n: 2 }, 'N'), ['ada'])
    const delivered = await socket.waitForDelivered(2)
    expect(delivered.map((f) => [f.d.n, f.s])).toEqual([
      [1, position!.seq],
      [2, position!.seq + 1],
    ])
    expect(authenticated).toEqual([])
  })

  it('closes with 4008 at the expiry when the client does not refresh (after op 35)', async () => {
    const { mesa, url } = await startServer({ authentication: { refreshBefore: 100 } })
    expiringAuthentication(mesa)
    const socket = await connect(url, { v2: true })
    await socket.authenticate({ id: 'ada', ttl: 200 })
    expect(await socket.waitClose()).toEqual({ code: CloseCode.AuthenticationExpired, reason: 'authentication expired' })
    expect(socket.frames.filter((f) => f.op === 35)).toHaveLength(1)
  })

  it('asks halfway to the expiry when less than refreshBefore is left, so that refreshing cannot loop', async () => {
    const { mesa, url } = await startServer()
    expiringAuthentication(mesa)
    const socket = await connect(url, { v2: true })
    await socket.authenticate({ id: 'ada', ttl: 600 })
    await socket.waitFor('op 35', () => socket.frames.some((f) => f.op === 35))
    expect(socket.isOpen).toBe(true)
    expect((await socket.waitClose()).code).toBe(CloseCode.AuthenticationExpired)
  })

  it('closes a Mesa 1.x socket with 4008 at the expiry, with no op 35 (it cannot refresh) and no x in op 22', async () => {
    const { mesa, url } = await startServer()
    expiringAuthentication(mesa)
    const legacy = await connect(url)
    expect(await legacy.authenticate({ id: 'ada', ttl: 150 })).toEqual({ op: 22, d: { name: 'ada' } })
    expect(await legacy.waitClose()).toEqual({ code: CloseCode.AuthenticationExpired, reason: 'authentication expired' })
    expect(legacy.frames.some((f) => f.op === 35)).toBe(false)
  })

  it('an authentication that expired already closes with 4008 instead of op 22; a non-finite expiresAt fails it', async () => {
    const { mesa, url } = await startServer()
    const errors: ServerError[] = []
    mesa.on('error', (error) => errors.push(error as ServerError))
    expiringAuthentication(mesa)
    const late = await connect(url, { v2: true })
    late.send({ op: 2, d: { id: 'ada', expiresAt: Date.now() - 1 } })
    expect(await late.waitClose()).toEqual({ code: CloseCode.AuthenticationExpired, reason: 'authentication expired' })
    expect(late.frames.some((f) => f.op === 22)).toBe(false)
    const bad = await connect(url, { v2: true })
    bad.send({ op: 2, d: { id: 'ada', expiresAt: 'tomorrow' } })
    expect(await bad.waitClose()).toEqual({ code: CloseCode.AuthenticationFailed, reason: 'authentication failed' })
    expect(errors.map((e) => e.code)).toEqual(['authentication-handler-failed'])
  })

  it('a refresh for another user id is answered rejected and the socket closed with 1008', async () => {
    const { mesa, url } = await startServer()
    expiringAuthentication(mesa)
    const socket = await connect(url, { v2: true })
    await socket.authenticate({ id: 'ada', ttl: 60_000 })
    expect((await refresh(socket, { id: 'ada', as: 'bob' }, 1)).x).toEqual({
      re: 1,
      err: { code: 'rejected', message: 'a refreshed authentication must keep the user id' },
    })
    expect(await socket.waitClose()).toEqual({
      code: CloseCode.AuthenticationFailed,
      reason: 'a refreshed authentication must keep the user id',
    })
  })

  it('a refused refresh closes with 1008 (disconnectOnFail); without it the old authentication runs on until it expires', async () => {
    const closing = await startServer()
    expiringAuthentication(closing.mesa)
    const socket = await connect(closing.url, { v2: true })
    await socket.authenticate({ id: 'ada', ttl: 60_000 })
    expect((await refresh(socket, { refuse: true }, 1)).x?.err).toEqual({ code: 'rejected', message: 'token revoked' })
    expect(await socket.waitClose()).toEqual({ code: CloseCode.AuthenticationFailed, reason: 'token revoked' })

    const lenient = await startServer({ authentication: { disconnectOnFail: false } })
    expiringAuthentication(lenient.mesa)
    const kept = await connect(lenient.url, { v2: true })
    await kept.authenticate({ id: 'ada', ttl: 1000 })
    expect((await refresh(kept, { refuse: true }, 1)).x?.err).toEqual({ code: 'rejected', message: 'token revoked' })
    expect(kept.isOpen).toBe(true)
    expect((await kept.waitClose()).code).toBe(CloseCode.AuthenticationExpired)
  })

  it('a refresh without expiresAt ends the expiry', async () => {
    const { mesa, url } = await startServer()
    expiringAuthentication(mesa)
    const socket = await connect(url, { v2: true })
    await socket.authenticate({ id: 'ada', ttl: 600 })
    expect((await refresh(socket, { id: 'ada' }, 1)).x).toEqual({ re: 1 })
    await delay(700)
    expect(socket.isOpen).toBe(true)
  })

  it('a refresh needs an authenticated socket (not-authenticated) and an x.id (4000)', async () => {
    const { mesa, url } = await startServer()
    const errors: Error[] = []
    mesa.on('error', (error) => errors.push(error))
    expiringAuthentication(mesa)
    const socket = await connect(url, { v2: true })
    expect((await refresh(socket, { id: 'ada' }, 1)).x?.err).toEqual({
      code: 'not-authenticated',
      message: 'only an authenticated socket can refresh its authentication',
    })
    await socket.authenticate({ id: 'ada' })
    socket.send({ op: 2, d: { id: 'ada' }, x: { refresh: true } })
    expect(await socket.waitClose()).toEqual({
      code: CloseCode.InvalidFrame,
      reason: 'a refresh (op 2 with x.refresh) needs x.id, a positive integer',
    })
    await waitFor('the error', () => errors.length === 1)
  })
})
