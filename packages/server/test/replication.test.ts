import { MemoryAdapter, type PortalEvent } from '@mesa/core/server'
import { describe, expect, it } from 'vitest'
import { delay } from '@mesa/test-kit'
import { CloseCode, Message, Mesa } from '../src/index.js'
import { connect, track } from './helpers.js'

async function pair(options: ConstructorParameters<typeof Mesa>[0] = {}): Promise<[Mesa, Mesa, MemoryAdapter]> {
  const adapter = new MemoryAdapter()
  const servers = [0, 1].map(() => {
    const mesa = track(new Mesa({ port: 0, host: '127.0.0.1', adapter, ...options }))
    mesa.on('connection', (client) => client.authenticate((data, done) => done(null, { id: String(data.id), user: {} })))
    return mesa
  }) as [Mesa, Mesa]
  await Promise.all(servers.map((mesa) => mesa.listening()))
  return [...servers, adapter]
}

const urlOf = (mesa: Mesa): string => `ws://127.0.0.1:${mesa.port}`

describe('replication through a shared adapter', () => {
  it('delivers targeted sends, broadcasts and [*] to users on the other server, once', async () => {
    const [a, b] = await pair()
    const onA = await connect(urlOf(a))
    await onA.authenticate({ id: 'alice' })
    const onB = await connect(urlOf(b))
    await onB.authenticate({ id: 'bob' })
    const anonymousOnB = await connect(urlOf(b))
    await a.send(new Message(0, { n: 1 }, 'TO_BOB'), ['bob'])
    await a.send(new Message(0, { n: 2 }, 'EVERYONE'))
    await a.send(new Message(0, { n: 3 }, 'MEMBERS'), ['*'], ['alice'])
    expect((await onB.waitForMessages(3)).map((f) => f.t)).toEqual(['TO_BOB', 'EVERYONE', 'MEMBERS'])
    expect((await anonymousOnB.waitForMessages(1)).map((f) => f.t)).toEqual(['EVERYONE'])
    expect((await onA.waitForMessages(1)).map((f) => f.t)).toEqual(['EVERYONE'])
    await delay(50)
    expect(onB.messages).toHaveLength(3)
    expect(anonymousOnB.messages).toHaveLength(1)
    expect(onA.messages).toHaveLength(1)
  })

  it('reports onMessageSent with fromCurrentReplica false on the receiving server', async () => {
    const [a, b] = await pair()
    const seen: boolean[] = []
    b.use(() => ({ onMessageSent: (_message, _clients, here) => void seen.push(here) }))
    const socket = await connect(urlOf(b))
    await socket.authenticate({ id: 'u' })
    await a.send(new Message(0, {}, 'X'), ['u'])
    await socket.waitForMessages(1)
    expect(seen).toEqual([false])
  })

  it("DISCONNECT_CLIENT sent on one server closes the user's sockets on the other", async () => {
    const [a, b] = await pair()
    const socket = await connect(urlOf(b))
    await socket.authenticate({ id: 'kicked' })
    await a.send(new Message(5, {}, 'DISCONNECT_CLIENT'), ['kicked'])
    expect((await socket.waitClose()).code).toBe(CloseCode.DisconnectedByServer)
  })

  it('shares sequences: a user with sockets on both servers gets the same s everywhere', async () => {
    const [a, b] = await pair({ sync: { enabled: true } })
    const onA = await connect(urlOf(a), { v2: true })
    await onA.authenticate({ id: 'both' })
    const onB = await connect(urlOf(b), { v2: true })
    await onB.authenticate({ id: 'both' })
    await a.send(new Message(0, { n: 1 }, 'M'), ['both'])
    await b.send(new Message(0, { n: 2 }, 'M'), ['both'])
    for (const socket of [onA, onB]) {
      expect((await socket.waitForMessages(2)).map((f) => [f.d.n, f.s])).toEqual([
        [1, 1],
        [2, 2],
      ])
    }
  })
})

describe('portal events', () => {
  it('pushes connection, authentication, message and disconnection to the portal queue', async () => {
    const [a, , adapter] = await pair({ portal: { enabled: true } })
    const events: PortalEvent[] = []
    const consumer = await adapter.portal.consume({ consumerId: 'test-portal' }, (event) => {
      events.push(event)
    })
    try {
      const socket = await connect(urlOf(a))
      await socket.authenticate({ id: 'p' })
      socket.send({ op: 0, d: { hi: true }, t: 'HELLO_PORTAL' })
      await new Promise<void>((resolve) => a.once('message', () => resolve()))
      socket.close()
      await socket.waitClose()
      await socket.waitFor('portal events', () => events.length >= 4)
      expect(events.map((event) => event.kind)).toEqual(['connection', 'authentication', 'message', 'disconnection'])
      const [connection, authentication, message, disconnection] = events as [
        Extract<PortalEvent, { kind: 'connection' }>,
        Extract<PortalEvent, { kind: 'authentication' }>,
        Extract<PortalEvent, { kind: 'message' }>,
        Extract<PortalEvent, { kind: 'disconnection' }>,
      ]
      expect(connection.serverId).toBe(a.id)
      expect(authentication.userId).toBe('p')
      expect(message.frame).toEqual({ op: 0, d: { hi: true }, t: 'HELLO_PORTAL' })
      expect(message.userId).toBe('p')
      expect(disconnection.clientId).toBe(connection.clientId)
    } finally {
      await consumer.close()
    }
  })

  it('pushes nothing without portal.enabled', async () => {
    const [a, , adapter] = await pair()
    const events: PortalEvent[] = []
    const consumer = await adapter.portal.consume({ consumerId: 'idle-portal' }, (event) => {
      events.push(event)
    })
    try {
      const socket = await connect(urlOf(a))
      socket.send({ op: 0, d: {}, t: 'X' })
      await new Promise<void>((resolve) => a.once('message', () => resolve()))
      await delay(50)
      expect(events).toEqual([])
    } finally {
      await consumer.close()
    }
  })
})
