import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authenticatedClient, RawClient, RedisServer, scenario, Scope, startDispatcher, startPortal, startServers, urlOf, waitFor, type WireFrame } from '@mesa/test-kit'

/**
 * Issue 4: three server processes on one Redis, clients spread over them, a dispatcher in a fourth process
 * and a portal in a fifth.
 */
const { scope, watch } = scenario(['core', 'server', 'redis-adapter', 'dispatcher', 'portal'])
let redis: RedisServer
const fileScope = new Scope()
let namespaceCounter = 0

beforeAll(async () => {
  redis = fileScope.add(await RedisServer.start(), (r) => r.destroy())
})
afterAll(() => fileScope.cleanup())

function namespace(): string {
  return `replication-${process.pid}-${namespaceCounter++}`
}

const client = (url: string, userId: string, v2 = true) => authenticatedClient(scope, url, userId, v2)

/** Types of the messages a client's application saw, in order. */
function typesOf(frames: readonly WireFrame[]): string[] {
  return frames.map((frame) => frame.t ?? '')
}

describe('three server processes on one Redis', () => {
  it('deliver global, targeted and excluding sends from any server and from a dispatcher process', async () => {
    const ns = namespace()
    // The third server is configured the 1.x way, `redis: url`, and loads @mesa/redis-adapter itself.
    const servers = await startServers(scope, redis, 3, { namespace: ns, sync: true, shorthand: [2] })
    const dispatcher = await startDispatcher(scope, redis, { namespace: ns, sync: true })
    watch(...servers, dispatcher)
    const urls = servers.map(urlOf)

    // u0..u5 spread over the servers; `multi` has a socket on server 0 and one on server 1; `legacy` is a 1.x client.
    const users = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5']
    const sockets = new Map<string, RawClient>()
    for (const [i, user] of users.entries()) sockets.set(user, await client(urls[i % 3]!, user))
    sockets.set('multi@0', await client(urls[0]!, 'multi'))
    sockets.set('multi@1', await client(urls[1]!, 'multi'))
    sockets.set('legacy', await client(urls[2]!, 'legacy', false))
    expect(sockets.get('legacy')?.protocol).toBe('')
    expect(sockets.get('u0')?.protocol).toBe('mesa.v2')

    await servers[0]!.call('send', { d: { from: 's0' }, t: 'GLOBAL' }, ['*'])
    await servers[1]!.call('send', { d: {}, t: 'TARGETED' }, ['u1', 'u3', 'multi'])
    await servers[2]!.call('send', { d: {}, t: 'EXCLUDING' }, ['*'], ['u0', 'multi'])
    await dispatcher.call('dispatch', { d: {}, t: 'D_GLOBAL' })
    await dispatcher.call('dispatch', { d: {}, t: 'D_TARGETED' }, ['u5', 'legacy'])
    await dispatcher.call('dispatch', { d: {}, t: 'D_EXCLUDING' }, ['*'], ['u2', 'u4'])
    // Barriers: each origin's later message cannot overtake its earlier ones, so once every socket has all
    // four barriers, nothing else of these sends is still on its way.
    for (const origin of [...servers, dispatcher])
      await origin.call(origin === dispatcher ? 'dispatch' : 'send', { d: {}, t: 'BARRIER' }, ['*'])
    for (const socket of sockets.values()) await socket.waitForDelivered(4, 'BARRIER')

    const expected: Record<string, string[]> = {
      u0: ['GLOBAL', 'D_GLOBAL', 'D_EXCLUDING'],
      u1: ['GLOBAL', 'TARGETED', 'EXCLUDING', 'D_GLOBAL', 'D_EXCLUDING'],
      u2: ['GLOBAL', 'EXCLUDING', 'D_GLOBAL'],
      u3: ['GLOBAL', 'TARGETED', 'EXCLUDING', 'D_GLOBAL', 'D_EXCLUDING'],
      u4: ['GLOBAL', 'EXCLUDING', 'D_GLOBAL'],
      u5: ['GLOBAL', 'EXCLUDING', 'D_GLOBAL', 'D_TARGETED', 'D_EXCLUDING'],
      'multi@0': ['GLOBAL', 'TARGETED', 'D_GLOBAL', 'D_EXCLUDING'],
      'multi@1': ['GLOBAL', 'TARGETED', 'D_GLOBAL', 'D_EXCLUDING'],
      legacy: ['GLOBAL', 'EXCLUDING', 'D_GLOBAL', 'D_TARGETED', 'D_EXCLUDING'],
    }
    for (const [name, socket] of sockets) {
      const got = typesOf(socket.delivered).filter((t) => t !== 'BARRIER')
      expect({ name, got: [...got].sort() }).toEqual({ name, got: [...expected[name]!].sort() })
    }
    // v2 sockets see synced messages with their stream position; 1.x sockets never see `s` or `x` on live messages.
    expect(sockets.get('u0')!.delivered.every((f) => typeof f.s === 'number')).toBe(true)
    expect(sockets.get('legacy')!.delivered.every((f) => f.s === undefined && f.x === undefined)).toBe(true)
  })

  it('share presence: every server sees users connected to the others, and a user is online while any socket is', async () => {
    const ns = namespace()
    const servers = await startServers(scope, redis, 3, { namespace: ns })
    watch(...servers)
    const urls = servers.map(urlOf)
    const a = await client(urls[0]!, 'alice')
    const b0 = await client(urls[1]!, 'bob')
    const b1 = await client(urls[2]!, 'bob')

    for (const server of servers) {
      await waitFor('alice and bob online', async () => (await server.call<number>('onlineCount')) === 2)
      expect(await server.call('isOnline', 'alice')).toBe(true)
      expect(await server.call('isOnline', 'carol')).toBe(false)
    }
    await b0.close()
    expect(await servers[0]!.call('isOnline', 'bob')).toBe(true)
    await b1.close()
    await waitFor('bob offline', async () => (await servers[0]!.call('isOnline', 'bob')) === false)
    await a.close()
    await waitFor('nobody online', async () => (await servers[2]!.call<number>('onlineCount')) === 0)
  })

  it('close every socket of a user on every server on DISCONNECT_CLIENT from a dispatcher process', async () => {
    const ns = namespace()
    const servers = await startServers(scope, redis, 3, { namespace: ns })
    const dispatcher = await startDispatcher(scope, redis, { namespace: ns })
    watch(...servers, dispatcher)
    const urls = servers.map(urlOf)
    const target = [
      await client(urls[0]!, 'troll'),
      await client(urls[2]!, 'troll'),
      await client(urls[1]!, 'troll', false),
    ]
    const bystander = await client(urls[0]!, 'nice')

    await dispatcher.call('disconnect', ['troll'], { reason: 'banned' })
    for (const socket of target) {
      const closed = await socket.closed
      expect(closed).toEqual({ code: 4004, reason: 'banned' })
    }
    await dispatcher.call('dispatch', { d: {}, t: 'STILL_HERE' }, ['nice'])
    await bystander.waitForDelivered(1, 'STILL_HERE')
    expect(bystander.isOpen).toBe(true)
  })

  it('redeliver a dispatcher message stored for an offline user when the user comes back on another server', async () => {
    const ns = namespace()
    const servers = await startServers(scope, redis, 3, { namespace: ns, sync: true })
    const dispatcher = await startDispatcher(scope, redis, { namespace: ns, sync: true })
    watch(...servers, dispatcher)
    const urls = servers.map(urlOf)

    // A v2 client that was here before: it resumes from its positions on a different server.
    const first = await client(urls[0]!, 'dora')
    const positions = { ...first.positions }
    await first.close()
    await waitFor('dora offline', async () => (await servers[1]!.call('isOnline', 'dora')) === false)
    // A 1.x client that was never connected gets its backlog with shouldSync.
    await dispatcher.call('dispatch', { d: { n: 1 }, t: 'WHILE_AWAY' }, ['dora', 'lou'])
    await dispatcher.call('dispatch', { d: { n: 2 }, t: 'WHILE_AWAY' }, ['dora', 'lou'])

    const back = scope.add(await RawClient.connect(urls[2]!, { v2: true }), (c) => void c.terminate())
    const ack = await back.authenticate({ id: 'dora' }, { resume: positions })
    expect(ack.x).toMatchObject({ recovered: true })
    const replay = await back.waitForDelivered(2, 'WHILE_AWAY')
    expect(replay.map((f) => f.d.n)).toEqual([1, 2])

    const legacy = scope.add(await RawClient.connect(urls[1]!), (c) => void c.terminate())
    await legacy.authenticate({ id: 'lou' }, { shouldSync: true })
    const backlog = await legacy.waitForDelivered(2, 'WHILE_AWAY')
    expect(backlog.map((f) => f.d.n)).toEqual([1, 2])
  })

  it('give each client event to one portal process, whichever server the client is on', async () => {
    const ns = namespace()
    const servers = await startServers(scope, redis, 3, { namespace: ns, portal: true })
    const portals = [
      await startPortal(scope, redis, { namespace: ns, id: 'p1' }),
      await startPortal(scope, redis, { namespace: ns, id: 'p2' }),
    ]
    const observer = await startPortal(scope, redis, { namespace: ns, id: 'observer', reportAllEvents: true })
    watch(...servers, ...portals, observer)
    const urls = servers.map(urlOf)

    const clients = []
    for (let i = 0; i < 6; i++) clients.push(await client(urls[i % 3]!, `p${i}`))
    for (const [i, c] of clients.entries()) for (let n = 0; n < 5; n++) c.dispatch('SAY', { i, n })

    const handled = () => portals.flatMap((p) => p.eventsOf('portal')).filter((e) => e.event === 'message')
    await waitFor('30 messages handled', () => handled().length >= 30, 15_000)
    await waitFor(
      '30 messages observed',
      () => observer.eventsOf('portal').filter((e) => e.event === 'message').length >= 30,
      15_000,
    )

    const keys = handled().map((e) => `${e.userId}:${(e.data as { n: number }).n}`)
    expect(new Set(keys).size).toBe(30)
    expect(keys.length).toBe(30)
    expect(new Set(handled().map((e) => e.serverId)).size).toBe(3)
    expect(portals.every((p) => p.eventsOf('portal').length > 0)).toBe(true)
    const authentications = portals.flatMap((p) => p.eventsOf('portal')).filter((e) => e.event === 'authentication')
    expect(authentications.map((e) => e.userId).sort()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5'])
  })
})
