import { MemoryAdapter } from '@mesa/core/server'
import { Mesa, type MesaOptions, type ServerClient } from '@mesa/server'
import { afterEach, describe, expect, it } from 'vitest'
import { delay, Scope, waitFor } from '@mesa/test-kit'
import { type Client, type ClientOptions, Message } from '../src/index.js'
import { openClient } from './support.js'

/** @mesa/client-node against @mesa/server: real sockets on 127.0.0.1, protocol 2. */

const scope = new Scope()
afterEach(() => scope.cleanup())

type Server = Mesa & { clientList: ServerClient[] }

/** A server on 127.0.0.1 (a free port unless one is given) that authenticates `{ token: 'good', id }`. */
async function server(options: MesaOptions = {}): Promise<{ mesa: Server; url: string; port: number }> {
  const mesa = new Mesa({ port: 0, host: '127.0.0.1', ...options }) as Server
  scope.defer(() => mesa.close())
  mesa.on('connection', (client) => {
    client.authenticate((data, done) => {
      if (data.token === 'good') done(null, { id: String(data.id), user: { id: String(data.id), name: `user ${data.id}` } })
      else done(new Error('bad token'))
    })
  })
  await mesa.listening()
  const port = mesa.port!
  return { mesa, url: `ws://127.0.0.1:${port}`, port }
}

const client = (url: string, options?: ClientOptions): Client => openClient(scope, url, options)

describe('@mesa/client-node against @mesa/server', () => {
  it('connects with protocol 2, authenticates, sends and receives', async () => {
    const { mesa, url } = await server()
    const fromClients: Message[] = []
    mesa.on('message', (message) => fromClients.push(message as Message))
    const c = client(url)
    await c.connect()
    const user = await c.authenticate({ token: 'good', id: 'ada' })
    expect(user).toEqual({ id: 'ada', name: 'user ada' })
    expect(c.protocol).toBe(2)
    expect(c.state).toBe('authenticated')
    const received: Message[] = []
    c.on('message', (message) => received.push(message))
    c.send(new Message(0, { status: 'online' }, 'STATUS_UPDATE'))
    await waitFor('message at the server', () => fromClients[0])
    expect(fromClients[0]).toMatchObject({ type: 'STATUS_UPDATE', data: { status: 'online' } })
    await mesa.send(new Message(0, { content: 'Hey!' }, 'NEW_MESSAGE'), ['ada'])
    await mesa.send(new Message(0, { content: 'not for ada' }, 'NEW_MESSAGE'), ['bob'])
    await mesa.send(new Message(0, { all: true }, 'BROADCAST'))
    await waitFor('two messages', () => received.length === 2)
    expect(received.map((m) => [m.type, m.data])).toEqual([
      ['NEW_MESSAGE', { content: 'Hey!' }],
      ['BROADCAST', { all: true }],
    ])
  })

  it('rejects a refused authentication with code rejected and stays closed', async () => {
    const { mesa, url } = await server({ reconnect: { enabled: true, interval: 20 } })
    const c = client(url)
    await expect(c.authenticate({ token: 'bad' })).rejects.toMatchObject({ name: 'AuthenticationError', code: 'rejected' })
    expect(c.state).toBe('closed')
    await delay(100)
    expect(mesa.connectionCount).toBe(0)
  })

  it('answers the heartbeats of the server sweep and stays connected', async () => {
    const { mesa, url } = await server({ heartbeat: { enabled: true, interval: 100, maxAttempts: 2 } })
    const c = client(url)
    let disconnects = 0
    c.on('disconnected', () => disconnects++)
    await c.authenticate({ token: 'good', id: 'h' })
    // A client that did not answer would be closed after three intervals (about 300 ms).
    await delay(800)
    expect(disconnects).toBe(0)
    expect(mesa.connectionCount).toBe(1)
  })

  it('reconnects after a server restart on the same port, re-authenticates, resumes what it missed and flushes its queue', async () => {
    // One adapter outlives both server instances: its store is what the restarted server replays from.
    const adapter = new MemoryAdapter()
    scope.defer(() => adapter.close())
    const options: MesaOptions = { adapter, sync: { enabled: true }, reconnect: { enabled: true, interval: 20 } }
    const first = await server(options)
    const c = client(first.url, { backoff: { max: 100 } })
    const seen: unknown[] = []
    c.on('message', (message) => seen.push(message.data.n))
    const disconnects: number[] = []
    c.on('disconnected', (code) => disconnects.push(code))
    const authentications: { recovered: boolean }[] = []
    c.on('authenticated', (result) => authentications.push(result))
    await c.authenticate({ token: 'good', id: 'u1' })
    await first.mesa.send(new Message(0, { n: 1 }, 'N'), ['u1'])
    await waitFor('first message', () => seen.length === 1)
    const before = c.positions.user!
    expect(before.seq).toBeGreaterThan(0)

    await first.mesa.close()
    await waitFor('closed with 1001', () => disconnects.includes(1001))
    // Offline: this waits in the queue until the client is authenticated again.
    c.send(new Message(0, { from: 'u1' }, 'WHILE_DOWN'))

    const second = await server({ ...options, port: first.port })
    const fromClients: Message[] = []
    second.mesa.on('message', (message) => fromClients.push(message as Message))
    // Sent while u1 may still be away: stored, then replayed on resume (or live if it is back already).
    await second.mesa.send(new Message(0, { n: 2 }, 'N'), ['u1'])
    await second.mesa.send(new Message(0, { n: 3 }, 'N'), ['u1'])
    await waitFor('re-authenticated', () => authentications.length === 2)
    expect(authentications[1]!.recovered).toBe(true)
    await waitFor('messages 2 and 3', () => seen.length === 3)
    await second.mesa.send(new Message(0, { n: 4 }, 'N'), ['u1'])
    await waitFor('message 4', () => seen.length === 4)
    expect(seen).toEqual([1, 2, 3, 4])
    expect(c.positions.user).toEqual({ epoch: before.epoch, seq: before.seq + 3 })
    await waitFor('queued message at the server', () => fromClients.find((m) => m.type === 'WHILE_DOWN'))
    expect(second.mesa.clients.map((x) => x.id)).toEqual(['u1'])
  })

  it('resumes exactly once after the socket died silently', async () => {
    const adapter = new MemoryAdapter()
    scope.defer(() => adapter.close())
    // No reconnect interval in the hello: the client's own long backoff applies, so it stays away until told.
    const { mesa, url } = await server({ adapter, sync: { enabled: true } })
    const c = client(url, { backoff: { base: 60_000, max: 60_000 } })
    const seen: unknown[] = []
    c.on('message', (message) => seen.push(message.data.n))
    await c.authenticate({ token: 'good', id: 'u2' })
    await mesa.send(new Message(0, { n: 1 }, 'N'), ['u2'])
    await waitFor('first', () => seen.length === 1)
    // Cut the TCP connection under the server's socket, no close frame; the client then waits for its (long)
    // backoff.
    mesa.clients[0]!.upgradeRequest.socket.destroy()
    await waitFor('reconnecting', () => c.state === 'reconnecting')
    for (const n of [2, 3, 4]) await mesa.send(new Message(0, { n }, 'N'), ['u2'])
    await mesa.send(new Message(0, { n: 'typing' }, 'TYPING', { sync: false }), ['u2'])
    c.reconnectNow()
    await waitFor('replay', () => seen.length === 4)
    await mesa.send(new Message(0, { n: 5 }, 'N'), ['u2'])
    await waitFor('live', () => seen.length === 5)
    expect(seen).toEqual([1, 2, 3, 4, 5])
  })

  it('delivers each message once to every socket of a user, each with its own position', async () => {
    const { mesa, url } = await server({ sync: { enabled: true } })
    const a = client(url)
    const b = client(url)
    const seen: Record<string, unknown[]> = { a: [], b: [] }
    a.on('message', (message) => seen.a!.push(message.data.n))
    b.on('message', (message) => seen.b!.push(message.data.n))
    await Promise.all([a.authenticate({ token: 'good', id: 'same' }), b.authenticate({ token: 'good', id: 'same' })])
    for (const n of [1, 2, 3]) await mesa.send(new Message(0, { n }, 'N'), ['same'])
    await mesa.send(new Message(0, { n: 'all' }, 'EVERYONE'), ['*'])
    await waitFor('both sockets', () => seen.a!.length === 4 && seen.b!.length === 4)
    expect(seen).toEqual({ a: [1, 2, 3, 'all'], b: [1, 2, 3, 'all'] })
    expect(a.positions).toEqual(b.positions)
  })

  it('is told when its missed history was trimmed away: resync with the reason, then live again', async () => {
    const adapter = new MemoryAdapter({ retention: { maxEntries: 2 } })
    scope.defer(() => adapter.close())
    // No reconnect interval in the hello: the client's own long backoff applies, so it stays away until told.
    const { mesa, url } = await server({ adapter, sync: { enabled: true } })
    const c = client(url, { backoff: { base: 60_000, max: 60_000 } })
    const seen: unknown[] = []
    c.on('message', (message) => seen.push(message.data.n))
    const resyncs: unknown[] = []
    c.on('resync', (reason, positions) => resyncs.push([reason, positions]))
    await c.authenticate({ token: 'good', id: 'u3' })
    await mesa.send(new Message(0, { n: 1 }, 'N'), ['u3'])
    await waitFor('first', () => seen.length === 1)
    const epoch = c.positions.user!.epoch
    mesa.clients[0]!.upgradeRequest.socket.destroy()
    await waitFor('reconnecting', () => c.state === 'reconnecting')
    // Five more while away; the store keeps the last two, so 2..4 are gone.
    for (const n of [2, 3, 4, 5, 6]) await mesa.send(new Message(0, { n }, 'N'), ['u3'])
    const authenticated = new Promise<{ recovered: boolean; reason?: string }>((resolve) => c.once('authenticated', resolve))
    c.reconnectNow()
    expect(await authenticated).toMatchObject({ recovered: false, reason: 'trimmed' })
    expect(resyncs).toEqual([['trimmed', expect.objectContaining({ user: { epoch, seq: 6 } })]])
    await mesa.send(new Message(0, { n: 7 }, 'N'), ['u3'])
    await waitFor('live after resync', () => seen.length === 2)
    expect(seen).toEqual([1, 7])
  })
})
