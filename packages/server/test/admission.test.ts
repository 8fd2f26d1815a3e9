import { once as onceEvent } from 'node:events'
import { createServer } from 'node:http'
import { type AddressInfo, connect as tcpConnect, type Socket } from 'node:net'
import { Client } from '@mesa/client-node'
import { delay, nextEvent, upgrade, withTimeout } from '@mesa/test-kit'
import { describe, expect, it } from 'vitest'
import { type AuthenticationContext, CloseCode, Mesa, type MesaOptions, Message, ServerError } from '../src/index.js'
import { acceptIds, connect, startServer, track, user } from './helpers.js'

/** Counts the server's `connection` events: a refused upgrade must never become a connection. */
function countConnections(mesa: Mesa): { count: number } {
  const seen = { count: 0 }
  mesa.on('connection', () => {
    seen.count++
  })
  return seen
}

describe('admission at the upgrade', () => {
  it('answers 403 to a browser Origin not in allowedOrigins; listed origins (any case) and requests without Origin pass', async () => {
    const { mesa, url } = await startServer({ allowedOrigins: ['https://app.example.com'] })
    const connections = countConnections(mesa)
    expect(await upgrade(url, { Origin: 'https://evil.example.com' })).toEqual({ status: 403, body: 'origin not allowed' })
    expect(await upgrade(url, { Origin: 'null' })).toMatchObject({ status: 403 })
    expect(connections.count).toBe(0)
    expect(await upgrade(url, { Origin: 'https://app.example.com' })).toMatchObject({ status: 101 })
    expect(await upgrade(url, { Origin: 'HTTPS://APP.EXAMPLE.COM' })).toMatchObject({ status: 101 })
    expect(await upgrade(url)).toMatchObject({ status: 101 })
    expect(connections.count).toBe(3)
  })

  it('verifyConnection answers before the WebSocket exists: false is 403, { status, reason } that status, sync or async', async () => {
    const seen: string[] = []
    const { mesa, url } = await startServer({
      verifyConnection: async (request) => {
        seen.push(request.url ?? '')
        const key = request.headers['x-key']
        if (key === 'sync-no') return false
        await delay(5)
        if (key === 'good') return true
        if (key === 'teapot') return { status: 418 }
        return { status: 401, reason: 'who are you?' }
      },
    })
    const connections = countConnections(mesa)
    expect(await upgrade(`${url}/?a=1`, { 'x-key': 'sync-no' })).toEqual({ status: 403, body: 'Forbidden' })
    expect(await upgrade(url, { 'x-key': 'nobody' })).toEqual({ status: 401, body: 'who are you?' })
    expect(await upgrade(url, { 'x-key': 'teapot' })).toMatchObject({ status: 418 })
    expect(connections.count).toBe(0)
    expect(await upgrade(url, { 'x-key': 'good' })).toMatchObject({ status: 101 })
    expect(connections.count).toBe(1)
    expect(seen[0]).toBe('/?a=1')
  })

  it('a verifyConnection that throws, rejects, answers nonsense or never answers gets 500 (503) and is reported', async () => {
    const { mesa, url } = await startServer({
      limits: { handshakeTimeout: 300 },
      verifyConnection: (request) => {
        const mode = request.headers['x-mode']
        if (mode === 'throw') throw new Error('db down')
        if (mode === 'reject') return Promise.reject(new Error('db down, async'))
        if (mode === 'hang') return new Promise(() => {})
        return { status: 200 }
      },
    })
    const errors: Error[] = []
    mesa.on('error', (error) => errors.push(error))
    const connections = countConnections(mesa)
    expect(await upgrade(url, { 'x-mode': 'throw' })).toMatchObject({ status: 500 })
    expect(await upgrade(url, { 'x-mode': 'reject' })).toMatchObject({ status: 500 })
    expect(await upgrade(url, { 'x-mode': 'nonsense' })).toMatchObject({ status: 500 })
    expect(await upgrade(url, { 'x-mode': 'hang' })).toMatchObject({ status: 503 })
    expect(connections.count).toBe(0)
    expect(errors.every((error) => error instanceof ServerError && error.code === 'handler-failed')).toBe(true)
    expect(errors.map((error) => error.message)).toEqual([
      'verifyConnection threw: db down',
      'verifyConnection rejected: db down, async',
      'verifyConnection must answer true, false or { status: 400-599, reason? }, got {"status":200}',
      'verifyConnection did not answer within 300 ms',
    ])
    expect((errors[0]!.cause as Error).message).toBe('db down')
  })

  it("checks only upgrades on its path of the application's server, which goes on serving its own routes", async () => {
    const http = createServer((_request, response) => response.end('app'))
    http.listen(0, '127.0.0.1')
    await onceEvent(http, 'listening')
    const verified: string[] = []
    const mesa = track(
      new Mesa({
        server: http,
        path: '/ws',
        allowedOrigins: ['https://app.example.com'],
        verifyConnection: (request) => {
          verified.push(request.url ?? '')
          return request.headers.authorization === 'Bearer ok' || { status: 401 }
        },
      }),
    )
    try {
      await mesa.listening()
      const base = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`
      expect(await upgrade(`${base}/ws`, { Origin: 'https://evil.example.com', Authorization: 'Bearer ok' })).toMatchObject({
        status: 403,
      })
      expect(await upgrade(`${base}/ws`)).toMatchObject({ status: 401 })
      expect(await upgrade(`${base}/ws?x=1`, { Authorization: 'Bearer ok' })).toMatchObject({ status: 101 })
      // ws answers 400 for another path, before admission: verifyConnection is not asked.
      expect(await upgrade(`${base}/other`, { Authorization: 'Bearer ok' })).toMatchObject({ status: 400 })
      expect(verified).toEqual(['/ws', '/ws?x=1'])
      const response = await fetch(`http://127.0.0.1:${(http.address() as AddressInfo).port}/health`)
      expect(await response.text()).toBe('app')
    } finally {
      await mesa.close()
      http.close()
    }
  })

  it('answers 429 past limits.maxConnectionsPerIp, counting sockets until they close (refused ones too)', async () => {
    const { mesa, url } = await startServer({
      limits: { maxConnectionsPerIp: 2 },
      verifyConnection: (request) => request.headers['x-key'] !== 'refuse',
    })
    const first = await connect(url)
    const second = await connect(url)
    expect(await upgrade(url)).toEqual({ status: 429, body: 'too many connections from this address' })
    expect(mesa.connectionCount).toBe(2)
    first.close()
    await first.waitClose()
    const third = await connect(url)
    expect(await upgrade(url)).toMatchObject({ status: 429 })
    second.terminate()
    await nextEvent(mesa, 'disconnection')
    // A refused upgrade held a place while it was verified, and gives it back.
    expect(await upgrade(url, { 'x-key': 'refuse' })).toMatchObject({ status: 403 })
    await delay(50)
    expect(await upgrade(url)).toMatchObject({ status: 101 })
    third.close()
  })
})

describe('credentials at the upgrade (authentication.upgradeCredentials)', () => {
  async function credentialServer(options: MesaOptions): Promise<{ url: string; contexts: AuthenticationContext[] }> {
    const { mesa, url } = await startServer(options)
    const contexts: AuthenticationContext[] = []
    mesa.on('connection', (client) =>
      client.authenticate((_data, done, context) => {
        contexts.push(context)
        if (context.credentials !== 'secret-token') return done(new Error('no token'))
        done(null, { id: 'ada', user: { name: 'Ada' } })
      }),
    )
    return { url, contexts }
  }

  it('hands the query parameter to the authenticate handler, as a browser sends it; op 2 still happens', async () => {
    const { url, contexts } = await credentialServer({ authentication: { upgradeCredentials: { query: 'token' } } })
    const client = new Client(`${url}/?token=secret-token`)
    try {
      expect(await client.authenticate({})).toEqual({ name: 'Ada' })
    } finally {
      client.disconnect()
    }
    expect(contexts[0]!.credentials).toBe('secret-token')
    expect(contexts[0]!.request.url).toBe('/?token=secret-token')
    const without = await connect(url)
    without.send({ op: 2, d: {} })
    expect((await without.waitClose()).code).toBe(CloseCode.AuthenticationFailed)
    expect(contexts[1]!.credentials).toBeUndefined()
  })

  it('reads the header, preferred to the query parameter when both are configured', async () => {
    const { url, contexts } = await credentialServer({
      authentication: { upgradeCredentials: { header: 'X-Mesa-Token', query: 'token' } },
    })
    const byHeader = await connect(`${url}/?token=other`, { headers: { 'x-mesa-token': 'secret-token' } })
    expect(await byHeader.authenticate({})).toMatchObject({ op: 22 })
    const byQuery = await connect(`${url}/?token=secret-token`)
    expect(await byQuery.authenticate({})).toMatchObject({ op: 22 })
    expect(contexts.map((context) => context.credentials)).toEqual(['secret-token', 'secret-token'])
  })

  it('gives no credentials when none are configured, whatever the request carries', async () => {
    const { url, contexts } = await credentialServer({})
    const socket = await connect(`${url}/?token=secret-token`, { headers: { authorization: 'secret-token' } })
    socket.send({ op: 2, d: {} })
    await socket.waitClose()
    expect(contexts[0]!.credentials).toBeUndefined()
    expect(contexts[0]!.request.headers.authorization).toBe('secret-token')
  })
})

describe('limits.maxConnectionsPerUser', () => {
  it('closes the newest socket of a user past the cap with 4009; the others, and other users, go on', async () => {
    const { mesa, url } = await startServer({ limits: { maxConnectionsPerUser: 2 } })
    acceptIds(mesa)
    const ada1 = await user(url, 'ada')
    const ada2 = await user(url, 'ada')
    const ada3 = await connect(url)
    // Authenticating again as the same user does not count the socket twice.
    await ada2.authenticate({ id: 'ada' })
    ada3.send({ op: 2, d: { id: 'ada' } })
    const closed = await ada3.waitClose()
    expect(closed.code).toBe(CloseCode.TooManyConnections)
    expect(closed.reason).toBe('user has 2 connections, the most this server allows')
    expect(ada3.frames.some((frame) => frame.op === 22)).toBe(false)
    await user(url, 'bob')
    expect(mesa.stats.connections.authenticated).toBe(3)
    ada1.close()
    await ada1.waitClose()
    await delay(50)
    await user(url, 'ada')
  })

  it('applies with sync (protocol 2 and 1.x clients alike)', async () => {
    const { mesa, url } = await startServer({ sync: { enabled: true }, limits: { maxConnectionsPerUser: 1 } })
    mesa.on('connection', (client) => client.authenticate((_data, done) => done(null, { id: 'ada', user: {} })))
    const first = await connect(url, { v2: true })
    await first.authenticate({})
    const v2 = await connect(url, { v2: true })
    v2.send({ op: 2, d: {} })
    expect((await v2.waitClose()).code).toBe(CloseCode.TooManyConnections)
    const v1 = await connect(url)
    v1.send({ op: 2, d: {} })
    expect((await v1.waitClose()).code).toBe(CloseCode.TooManyConnections)
  })
})

describe('the http server Mesa creates (port)', () => {
  /** A raw TCP client that sends `head` (partial headers) and then nothing; resolves with what it got when closed. */
  function trickle(port: number, head: string): { closed: Promise<string>; socket: Socket } {
    const socket = tcpConnect(port, '127.0.0.1', () => socket.write(head))
    let received = ''
    socket.on('data', (chunk) => {
      received += chunk.toString()
    })
    socket.on('error', () => {})
    const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(received)))
    return { closed, socket }
  }

  it('closes connections that do not finish their request within limits.handshakeTimeout (slowloris)', async () => {
    const { mesa, url } = await startServer({ limits: { handshakeTimeout: 300 } })
    const port = mesa.port!
    const slow = [
      trickle(port, 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'),
      trickle(port, 'GET / HTTP/1.1\r\nHost: x\r\nX-Padding: aaaa'),
      trickle(port, ''),
    ]
    // Node's defaults would keep them for 60 s and more.
    const answers = await withTimeout('the slow requests to be closed', Promise.all(slow.map((client) => client.closed)), 10_000)
    for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 408 /)
    // An upgraded socket is no longer subject to the request timeouts.
    const socket = await connect(url)
    await delay(700)
    expect(socket.closeCode).toBeUndefined()
    await mesa.send(new Message(0, {}, 'STILL_HERE'))
    await socket.waitForMessages(1)
  })

  it('answers plain HTTP requests with 426, and is closed by mesa.close(), requests in progress included', async () => {
    const { mesa } = await startServer()
    const port = mesa.port!
    const response = await fetch(`http://127.0.0.1:${port}/`)
    expect(response.status).toBe(426)
    const pending = trickle(port, 'GET / HTTP/1.1\r\nHost: x\r\n')
    await delay(50)
    await withTimeout('mesa.close()', mesa.close(), 5000)
    await withTimeout('the pending request to be cut', pending.closed, 5000)
    // The port is free again.
    const again = track(new Mesa({ port, host: '127.0.0.1' }))
    await again.listening()
  })
})
