import { describe, expect, it } from 'vitest'
import { authenticatedClient, type Child, RawClient, RedisServer, scenario, startDispatcher, startPortal, startServers, urlOf, waitFor } from '@mesa/test-kit'

const { scope, watch } = scenario(['core', 'server', 'redis-adapter', 'dispatcher', 'portal'])

describe('two namespaces on one Redis', () => {
  it('never see each other: sends, stored messages, presence and portal events stay in their namespace', async () => {
    const redis = scope.add(await RedisServer.start(), (r) => r.destroy())
    const world = new Map<string, { servers: Child[]; dispatcher: Child; portal: Child; clients: RawClient[] }>()
    for (const ns of ['alpha', 'beta']) {
      const servers = await startServers(scope, redis, 2, { namespace: ns, sync: true, portal: true })
      const dispatcher = await startDispatcher(scope, redis, { namespace: ns, sync: true })
      const portal = await startPortal(scope, redis, { namespace: ns, id: `portal-${ns}` })
      watch(...servers, dispatcher, portal)
      const clients = []
      // The same user ids in both namespaces.
      for (const [i, user] of ['u1', 'u2'].entries()) {
        clients.push(await authenticatedClient(scope, urlOf(servers[i]!), user))
      }
      world.set(ns, { servers, dispatcher, portal, clients })
    }
    const alpha = world.get('alpha')!
    const beta = world.get('beta')!

    await alpha.dispatcher.call('dispatch', { d: {}, t: 'ALPHA_ALL' })
    await alpha.dispatcher.call('dispatch', { d: {}, t: 'ALPHA_U1' }, ['u1'])
    await alpha.servers[1]!.call('send', { d: {}, t: 'ALPHA_SERVER' }, ['*'])
    await alpha.clients[0]!.waitForDelivered(3)
    await alpha.clients[1]!.waitForDelivered(2)
    alpha.clients[0]!.dispatch('FROM_ALPHA', {})

    // Published after alpha's sends on the same Redis: once beta's clients have it, alpha's would have arrived.
    await beta.dispatcher.call('dispatch', { d: {}, t: 'BETA_ALL' })
    for (const c of beta.clients) await c.waitForDelivered(1, 'BETA_ALL')
    for (const c of beta.clients) expect(c.delivered.map((f) => f.t)).toEqual(['BETA_ALL'])
    for (const c of alpha.clients) expect(c.delivered.some((f) => f.t === 'BETA_ALL')).toBe(false)
    expect(alpha.clients[0]!.delivered.map((f) => f.t).sort()).toEqual(['ALPHA_ALL', 'ALPHA_SERVER', 'ALPHA_U1'])

    await waitFor('alpha portal to get the client message', () =>
      alpha.portal.eventsOf('portal').some((e) => e.event === 'message' && e.type === 'FROM_ALPHA'),
    )
    beta.clients[0]!.dispatch('FROM_BETA', {})
    await waitFor('beta portal to get its client message', () =>
      beta.portal.eventsOf('portal').some((e) => e.event === 'message' && e.type === 'FROM_BETA'),
    )
    expect(beta.portal.eventsOf('portal').some((e) => e.type === 'FROM_ALPHA')).toBe(false)
    expect(alpha.portal.eventsOf('portal').some((e) => e.type === 'FROM_BETA')).toBe(false)

    // Stored messages: u3, offline in both namespaces, gets back only its own namespace's backlog (1.x shouldSync).
    await alpha.dispatcher.call('dispatch', { d: {}, t: 'ALPHA_FOR_U3' }, ['u3'])
    await beta.dispatcher.call('dispatch', { d: {}, t: 'BETA_FOR_U3' }, ['u3'])
    const u3 = scope.add(await RawClient.connect(urlOf(beta.servers[1]!)), (s) => void s.terminate())
    await u3.authenticate({ id: 'u3' }, { shouldSync: true })
    await u3.waitForDelivered(1, 'BETA_FOR_U3')
    await beta.dispatcher.call('dispatch', { d: {}, t: 'BETA_LATER' }, ['u3'])
    await u3.waitForDelivered(1, 'BETA_LATER')
    expect(u3.delivered.map((f) => f.t)).toEqual(['BETA_FOR_U3', 'BETA_LATER'])

    // Presence: u2 leaving beta leaves alpha's u2 online.
    await beta.clients[1]!.close()
    await waitFor('u2 offline in beta', async () => (await beta.servers[0]!.call('isOnline', 'u2')) === false)
    expect(await alpha.servers[0]!.call('isOnline', 'u2')).toBe(true)
    expect(await alpha.servers[0]!.call('onlineCount')).toBe(2)
    expect(await beta.servers[0]!.call('onlineCount')).toBe(2)
  })
})
