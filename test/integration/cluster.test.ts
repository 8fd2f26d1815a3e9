import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authenticatedClient, numbersOf, RedisCluster, resumingClients, scenario, Scope, startDispatcher, startPortal, startServers, urlOf, waitFor } from '@mesa/test-kit'

/**
 * The deployment of replication.test.ts on a three-master Redis Cluster: servers, a dispatcher and a portal
 * in their own processes, each given the Cluster's startup nodes (the dispatcher and portal as connection
 * options, loading @mesa/redis-adapter themselves).
 */
const { scope, watch } = scenario(['core', 'server', 'redis-adapter', 'dispatcher', 'portal'])
let cluster: RedisCluster
const fileScope = new Scope()

beforeAll(async () => {
  cluster = fileScope.add(await RedisCluster.start(), (c) => c.destroy())
}, 60_000)
afterAll(() => fileScope.cleanup())

describe('server, dispatcher and portal processes on a Redis Cluster', () => {
  it('replicate sends, share presence, hand client events to the portal and survive a server kill -9', async () => {
    const ns = 'cluster'
    const servers = await startServers(scope, cluster, 3, {
      namespace: ns,
      sync: true,
      portal: true,
      presenceTtlMs: 1500,
    })
    const dispatcher = await startDispatcher(scope, cluster, { namespace: ns, sync: true })
    const portal = await startPortal(scope, cluster, { namespace: ns, id: 'cluster-portal' })
    watch(...servers, dispatcher, portal)
    const urls = servers.map(urlOf)

    const users = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5']
    const clients = await resumingClients(scope, urls, users)
    await waitFor('six users online', async () => (await servers[2]!.call<number>('onlineCount')) === 6)

    await servers[0]!.call('send', { d: { n: 0 }, t: 'ALL' }, ['*'])
    await servers[1]!.call('send', { d: { n: 0 }, t: 'SOME' }, ['c0', 'c4'])
    await dispatcher.call('dispatch', { d: { n: 0 }, t: 'NOT_C2' }, ['*'], ['c2'])
    await dispatcher.call('dispatch', { d: { n: 0 }, t: 'BARRIER' }, ['*'])
    await servers[0]!.call('send', { d: { n: 0 }, t: 'BARRIER' }, ['*'])
    await servers[1]!.call('send', { d: { n: 0 }, t: 'BARRIER' }, ['*'])
    for (const c of clients.values()) await waitFor('the barriers', () => c.messagesOf('BARRIER').length === 3)
    for (const [user, c] of clients) {
      const types = c.delivered
        .map((f) => f.t)
        .filter((t) => t !== 'BARRIER')
        .sort()
      const expected = ['ALL', ...(user === 'c2' ? [] : ['NOT_C2']), ...(['c0', 'c4'].includes(user) ? ['SOME'] : [])]
      expect({ user, types }).toEqual({ user, types: expected.sort() })
    }

    clients.get('c1')!.connection!.dispatch('HELLO', { from: 'c1' })
    await waitFor('the portal to get the message', () =>
      portal.eventsOf('portal').some((e) => e.event === 'message' && e.userId === 'c1' && e.type === 'HELLO'),
    )

    // A user whose only socket is on the server about to die, without reconnection.
    await authenticatedClient(scope, urls[0]!, 'lost')
    const total = 80
    const stream = dispatcher.call<{ accepted: number[]; rejected: unknown[] }>(
      'stream',
      'G',
      1,
      total,
      ['*'],
      undefined,
      5,
    )
    await waitFor('the stream to be under way', () => clients.get('c0')!.messagesOf('G').length >= 10, 15_000)
    await servers[0]!.kill('SIGKILL')
    const { accepted, rejected } = await stream
    expect(rejected).toEqual([])
    const expected = Array.from({ length: total }, (_, i) => i + 1)
    expect(accepted).toEqual(expected)
    for (const [user, c] of clients) {
      await waitFor(`${user} to get the whole stream`, () => c.messagesOf('G').length >= total, 20_000)
      expect({ user, g: numbersOf(c.messagesOf('G')) }).toEqual({ user, g: expected })
    }
    await waitFor(
      "the dead server's user to go offline",
      async () => (await servers[1]!.call('isOnline', 'lost')) === false,
      15_000,
    )
    expect(await servers[2]!.call('onlineCount')).toBe(6)
  })
})
