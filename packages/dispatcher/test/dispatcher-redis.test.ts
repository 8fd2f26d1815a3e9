import { Message } from '@mesa/core'
import { channelStream, type DispatchEnvelope, encodeMessage, type Envelope, userStream } from '@mesa/core/server'
import { RedisAdapter } from '@mesa/redis-adapter'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { delay, freePort, LOCAL_REDIS_URL, LocalNamespaces, RedisServer, Scope, waitFor } from '@mesa/test-kit'
import { Dispatcher } from '../src/index.js'

const scope = new Scope()
const namespaces = new LocalNamespaces('dispatcher-test')
afterEach(() => scope.cleanup())
afterAll(() => namespaces.deleteKeys())
const namespace = () => namespaces.next()

/** A server's view of the namespace: the envelopes it receives. */
async function serverSide(ns: string): Promise<{ adapter: RedisAdapter; envelopes: Envelope[] }> {
  const adapter = new RedisAdapter(LOCAL_REDIS_URL, { namespace: ns })
  scope.defer(() => adapter.close())
  const envelopes: Envelope[] = []
  await adapter.subscribe('server', (envelope) => envelopes.push(envelope))
  return { adapter, envelopes }
}

describe('Dispatcher on Redis, created from a URL', () => {
  it('loads @mesa/redis-adapter, stores with sync, and publishes to the servers of its namespace only', async () => {
    const ns = namespace()
    const server = await serverSide(ns)
    const elsewhere = await serverSide(namespace())
    const dispatcher = new Dispatcher(LOCAL_REDIS_URL, { namespace: ns, sync: true })
    scope.defer(() => dispatcher.close())

    const message = new Message(0, { content: 'hi' }, 'NEW_MESSAGE')
    await dispatcher.dispatch(message, ['u1', 'u2'])
    await dispatcher.disconnect(['u3'])
    await waitFor('both envelopes', () => server.envelopes.length === 2)

    const dispatch = server.envelopes[0] as DispatchEnvelope
    expect(dispatch).toMatchObject({ kind: 'dispatch', origin: dispatcher.id, recipients: ['u1', 'u2'] })
    expect(dispatch.frame).toBe(encodeMessage(message))
    expect(dispatch.sequences?.users).toEqual([1, 1])
    expect(server.envelopes[1]).toEqual({ kind: 'disconnect', origin: dispatcher.id, userIds: ['u3'] })
    const head = await server.adapter.store.head(userStream('u1'))
    const read = await server.adapter.store.readAfter(userStream('u1'), { epoch: head.epoch, seq: 0 })
    expect(read.status === 'ok' && read.entries.map((e) => e.frame)).toEqual([encodeMessage(message)])
    expect(elsewhere.envelopes).toEqual([])
  })

  it('keeps subscriptions per user in Redis for every server and announces them; stores publications once, for followers', async () => {
    const ns = namespace()
    const server = await serverSide(ns)
    const dispatcher = new Dispatcher(LOCAL_REDIS_URL, { namespace: ns, sync: true, maxChannelsPerUser: 2 })
    scope.defer(() => dispatcher.close())

    await dispatcher.subscribe(['u1', 'u2'], 'room:1')
    await dispatcher.subscribe(['u1'], 'room:2')
    await expect(dispatcher.subscribe(['u1', 'u3'], 'room:3')).rejects.toMatchObject({ code: 'too-many-channels', userIds: ['u1'] })
    await dispatcher.unsubscribe(['u2'], 'room:1')
    // What a server reads when a socket of the user authenticates.
    expect((await server.adapter.userChannels.channelsOf('u1')).sort()).toEqual(['room:1', 'room:2'])
    expect(await server.adapter.userChannels.channelsOf('u2')).toEqual([])
    expect(await server.adapter.userChannels.channelsOf('u3')).toEqual(['room:3'])
    await waitFor('four subscription envelopes', () => server.envelopes.length === 4)
    expect(server.envelopes.map((e) => e.kind === 'subscription' && `${e.subscribe ? '+' : '-'}${e.channel} ${e.userIds}`)).toEqual([
      '+room:1 u1,u2',
      '+room:2 u1',
      '+room:3 u3',
      '-room:1 u2',
    ])

    // A server following room:1 gets its publication, stored once before.
    await server.adapter.follow('server', ['room:1'])
    const message = new Message(0, { text: 'hi' }, 'CHAT')
    await dispatcher.publish('room:1', message)
    const head = await server.adapter.store.head(channelStream('room:1'))
    const read = await server.adapter.store.readAfter(channelStream('room:1'), { epoch: head.epoch, seq: 0 })
    expect(read.status === 'ok' && read.entries.map((e) => e.frame)).toEqual([encodeMessage(message)])
    await waitFor('the publication', () => server.envelopes.length === 5)
    expect(server.envelopes[4]).toEqual({
      kind: 'publication',
      origin: dispatcher.id,
      channel: 'room:1',
      frame: encodeMessage(message),
      position: { epoch: head.epoch, seq: 1 },
    })
  })

  it('takes ioredis connection options as Mesa 1.x did', async () => {
    const ns = namespace()
    const server = await serverSide(ns)
    const dispatcher = new Dispatcher({ host: '127.0.0.1', port: 6379 }, { namespace: ns })
    scope.defer(() => dispatcher.close())
    await dispatcher.dispatch(new Message(0, {}, 'HELLO'), ['u1'])
    await waitFor('the envelope', () => server.envelopes.length === 1)
    expect(server.envelopes[0]).toMatchObject({ kind: 'dispatch', recipients: ['u1'] })
  })

  it('closes the adapter it created, after the sends under way', async () => {
    const ns = namespace()
    const server = await serverSide(ns)
    const dispatcher = new Dispatcher(LOCAL_REDIS_URL, { namespace: ns })
    const sends = Array.from({ length: 20 }, (_, n) => dispatcher.dispatch(new Message(0, { n }, 'N')))
    await dispatcher.close()
    await Promise.all(sends)
    await waitFor('every envelope', () => server.envelopes.length === 20)
    await expect(dispatcher.dispatch(new Message(0, {}, 'LATE'))).rejects.toThrow('the dispatcher is closed')
  })

  it('rejects sends with a typed error while Redis is unreachable, and delivers once it is up', async () => {
    const port = await freePort()
    const url = `redis://127.0.0.1:${port}`
    const dispatcher = new Dispatcher(url, { namespace: 'unreachable', sync: true })
    scope.defer(() => dispatcher.close())
    await expect(dispatcher.dispatch(new Message(0, {}, 'LOST'), ['u1'])).rejects.toMatchObject({
      code: 'store-failed',
    })
    await expect(dispatcher.dispatch(new Message(0, {}, 'LOST'), ['u1'])).rejects.toMatchObject({
      code: 'store-failed',
    })

    const redis = await RedisServer.start(port)
    scope.defer(() => redis.destroy())
    const server = new RedisAdapter(url, { namespace: 'unreachable' })
    scope.defer(() => server.close())
    const envelopes: Envelope[] = []
    await server.subscribe('server', (envelope) => envelopes.push(envelope))
    const deadline = Date.now() + 10_000
    for (;;) {
      try {
        await dispatcher.dispatch(new Message(0, {}, 'DELIVERED'), ['u1'])
        break
      } catch (error) {
        if (Date.now() > deadline) throw error
        await delay(100)
      }
    }
    await waitFor('the envelope', () => envelopes.length === 1)
    const head = await server.store.head(userStream('u1'))
    expect(head.seq).toBe(1)
  })
})
