import { createServer, type Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import Mesa, { Message as LegacyMessage } from '@cryb/mesa'
import type LegacyClient from '@cryb/mesa/lib/server/client'
import { afterEach, describe, expect, it } from 'vitest'
import { delay, rejectionOf, Scope, waitFor } from '@mesa/test-kit'
import { AuthenticationError, type Client, type ClientOptions, Message, RequestError, SubscriptionError } from '../src/index.js'
import { openClient } from './support.js'

/** Our client against the Mesa 1.x server (`@cryb/mesa@1.5.8`, on ws 7), as existing deployments run it. */

type LegacyServer = InstanceType<typeof Mesa>

const scope = new Scope()
afterEach(() => scope.cleanup())

interface Legacy {
  mesa: LegacyServer
  url: string
  /** Server-side clients in connection order. */
  connections: LegacyClient[]
  /** Every op 0 the server received, in order. */
  received: { type: string; data: unknown }[]
}

/**
 * A 1.x server on a free port. 1.x treats `port: 0` as "use 4000", so it gets an http server already listening.
 * `gracefullyExit: false` keeps it from installing signal handlers that exit the test process.
 */
async function legacyServer(config: Record<string, unknown> = {}): Promise<Legacy> {
  const http: HttpServer = createServer()
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const mesa = new Mesa({ server: http, gracefullyExit: false, ...config } as ConstructorParameters<typeof Mesa>[0])
  const connections: LegacyClient[] = []
  const received: { type: string; data: unknown }[] = []
  mesa.on('message', (message) => received.push(message as unknown as { type: string; data: unknown }))
  mesa.on('connection', (client: LegacyClient) => {
    connections.push(client)
    client.authenticate((data: Record<string, unknown>, done: (error: Error | null, result?: { id: string; user: unknown }) => void) => {
      if (data.token === 'good') done(null, { id: String(data.id), user: { id: data.id, name: `user ${data.id}` } })
      else done(new Error('bad token'))
    })
  })
  scope.defer(
    () =>
      new Promise<void>((resolve) => {
        mesa.close()
        http.closeAllConnections()
        http.close(() => resolve())
      }),
  )
  return { mesa, url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`, connections, received }
}

const client = (url: string, options?: ClientOptions): Client => openClient(scope, url, options)

describe('@mesa/client-node against the Mesa 1.x server', () => {
  it('connects, speaks protocol 1, authenticates and resolves with the user object', async () => {
    const legacy = await legacyServer()
    const c = client(legacy.url)
    await c.connect()
    await waitFor('hello', () => c.rules.length > 0)
    // ws 7 echoes the offered `mesa.v2`, but the 1.x hello has no `x.protocol`: the session stays on 1.x.
    expect(c.protocol).toBe(1)
    expect(c.rules).toContain('sends_user_object')
    const user = await c.authenticate({ token: 'good', id: 7 })
    expect(user).toEqual({ id: 7, name: 'user 7' })
    expect(c.state).toBe('authenticated')
    expect(legacy.connections[0]!.id).toBe('7')
  })

  it('exchanges op 0 messages both ways, targeted and global', async () => {
    const legacy = await legacyServer()
    const c = client(legacy.url)
    await c.authenticate({ token: 'good', id: 1 })
    const received: Message[] = []
    c.on('message', (message) => received.push(message))
    c.send(new Message(0, { status: 'online' }, 'STATUS_UPDATE'))
    const fromClient = await waitFor('message at the server', () => legacy.received[0])
    expect(fromClient).toMatchObject({ data: { status: 'online' }, type: 'STATUS_UPDATE' })
    legacy.mesa.send(new LegacyMessage(0, { content: 'Hey!' }, 'NEW_MESSAGE'), ['1'])
    legacy.mesa.send(new LegacyMessage(0, { disabled: true }, 'MANIFEST_UPDATE'))
    await waitFor('two messages', () => received.length === 2)
    expect(received.map((m) => [m.opcode, m.type, m.data])).toEqual([
      [0, 'NEW_MESSAGE', { content: 'Hey!' }],
      [0, 'MANIFEST_UPDATE', { disabled: true }],
    ])
  })

  it('rejects requests, acknowledged sends and subscriptions with unsupported, and plain sends still work', async () => {
    const legacy = await legacyServer()
    const c = client(legacy.url)
    await c.authenticate({ token: 'good', id: 5 })
    const request = await rejectionOf<RequestError>('request', c.request(new Message(0, { q: 1 }, 'QUESTION')))
    expect(request).toBeInstanceOf(RequestError)
    expect(request).toMatchObject({ code: 'unsupported' })
    const acked = await rejectionOf<RequestError>('acknowledged send', c.send(new Message(0, { n: 1 }, 'ACKED'), { ack: true }))
    expect(acked).toMatchObject({ name: 'RequestError', code: 'unsupported' })
    const subscription = c.subscribe('room:1')
    const failed = await new Promise<Error>((resolve) => subscription.on('error', resolve))
    expect(failed).toBeInstanceOf(SubscriptionError)
    expect(failed).toMatchObject({ code: 'unsupported' })
    c.send(new Message(0, { n: 2 }, 'PLAIN'))
    await waitFor('the plain message', () => legacy.received.find((m) => m.type === 'PLAIN'))
    await delay(50)
    // Nothing of protocol 2 reached the 1.x server, and it kept the connection.
    expect(legacy.received.map((m) => m.type)).toEqual(['PLAIN'])
    expect(c.state).toBe('authenticated')
    expect(legacy.connections).toHaveLength(1)
  })

  it('answers every heartbeat, so the 1.x server never counts a missed one', async () => {
    const legacy = await legacyServer({ heartbeat: { enabled: true, interval: 100, maxAttempts: 2 } })
    const c = client(legacy.url)
    let disconnects = 0
    c.on('disconnected', () => disconnects++)
    await c.connect()
    const server = await waitFor('server-side client', () => legacy.connections[0])
    // Without acks the 1.x server closes after maxAttempts + 1 silent beats (about 300 ms here).
    await delay(800)
    expect(disconnects).toBe(0)
    expect(c.state).toBe('open')
    expect((server as unknown as { heartbeatAttempts: number }).heartbeatAttempts).toBe(0)
  })

  it('rejects a refused authentication (close 1008) and does not reconnect', async () => {
    const legacy = await legacyServer({ reconnect: { enabled: true, interval: 20 } })
    const c = client(legacy.url)
    const result = c.authenticate({ token: 'bad' })
    await expect(result).rejects.toBeInstanceOf(AuthenticationError)
    await expect(result).rejects.toMatchObject({ code: 'rejected' })
    expect(c.state).toBe('closed')
    await delay(100)
    expect(legacy.connections).toHaveLength(1)
  })

  it('reconnects with the hello interval as backoff base, re-authenticates and flushes what was queued', async () => {
    const legacy = await legacyServer({ reconnect: { enabled: true, interval: 20 } })
    const c = client(legacy.url)
    await c.authenticate({ token: 'good', id: 3 })
    const states: string[] = []
    const delays: (number | undefined)[] = []
    c.once('disconnected', (_code, _reason, info) => {
      states.push(c.state)
      delays.push(info.delay)
      c.send(new Message(0, { n: 1 }, 'QUEUED'))
    })
    legacy.connections[0]!.disconnect(1011)
    const second = await waitFor('second connection', () => legacy.connections[1])
    await waitFor('re-authenticated', () => c.state === 'authenticated')
    expect(second.id).toBe('3')
    await waitFor('queued message', () => legacy.received.find((m) => m.type === 'QUEUED'))
    expect(states).toEqual(['reconnecting'])
    // Full jitter below the hello's 20 ms (the client's own default base is 1000 ms).
    expect(delays[0]).toBeLessThan(20)
  })

  it('receives 1.x redelivery (Redis sync) with s counting from 1 per batch, every batch delivered', async () => {
    const namespace = `compat-${process.pid}-${Date.now()}`
    const legacy = await legacyServer({
      namespace,
      redis: 'redis://127.0.0.1:6379',
      sync: { enabled: true },
    })
    scope.defer(async () => {
      await legacy.mesa.redis.del(`undelivered_messages_${namespace}`, `connected_clients_${namespace}`)
      await legacy.mesa.redis.decr(`connected_clients_count_${namespace}`)
      await legacy.mesa.redis.del(`connected_clients_count_${namespace}`)
      for (const connection of [legacy.mesa.redis, legacy.mesa.publisher, legacy.mesa.subscriber]) connection.disconnect()
    })
    const storedFor = async (user: string): Promise<number> =>
      (JSON.parse((await legacy.mesa.redis.hget(`undelivered_messages_${namespace}`, user)) ?? '[]') as unknown[])
        .length
    const sequences: (number | undefined)[][] = []
    for (let batch = 0; batch < 2; batch++) {
      // The user is offline: 1.x stores what is sent to it, one message at a time (its read-modify-write of
      // the backlog loses concurrent appends).
      for (const n of [1, 2, 3]) {
        await legacy.mesa.send(new LegacyMessage(0, { batch, n }, 'MISSED'), ['42'])
        await waitFor(`message ${n} to be stored`, async () => (await storedFor('42')) >= n, 5000, 5)
      }
      const c = client(legacy.url)
      const seen: (number | undefined)[] = []
      c.on('message', (message) => seen.push(message.sequence))
      await c.authenticate({ token: 'good', id: 42 })
      await waitFor(`batch ${batch}`, () => seen.length === 3)
      sequences.push(seen)
      c.disconnect()
      await waitFor('offline again', () => legacy.mesa.clients.length === 0)
      await delay(50)
    }
    expect(sequences).toEqual([
      [1, 2, 3],
      [1, 2, 3],
    ])
  })
})
