import { fileURLToPath } from 'node:url'
import { RedisAdapter } from '@mesa/redis-adapter'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { authenticatedClient, Child, LOCAL_REDIS_URL, LocalNamespaces, Scope, waitFor } from '@mesa/test-kit'
import { Portal } from '../src/index.js'
import { membershipServer } from './membership-server.js'

const scope = new Scope()
const namespaces = new LocalNamespaces('portal-membership')
afterEach(() => scope.cleanup())
afterAll(() => namespaces.deleteKeys())
const namespace = () => namespaces.next()

function redisAdapter(ns: string, memberTtlMs?: number): RedisAdapter {
  const options = { namespace: ns, ...(memberTtlMs ? { portal: { memberTtlMs } } : {}) }
  const adapter = new RedisAdapter(LOCAL_REDIS_URL, options)
  adapter.on('error', () => {})
  scope.defer(() => adapter.close())
  return adapter
}

/** A real server on its own Redis adapter, recording the membership hooks (see `membershipServer`). */
const server = (ns: string, memberTtlMs?: number) => membershipServer(scope, redisAdapter(ns, memberTtlMs))

/** A portal process on Redis (fixtures/member-portal.ts, bundled with the packages from source). */
const memberPortal = fileURLToPath(new URL('./fixtures/member-portal.ts', import.meta.url))

describe('onPortalJoin / onPortalLeave on Redis', () => {
  it("fire on every server of the namespace with the portal's id when it starts and when it closes", async () => {
    const ns = namespace()
    const one = await server(ns)
    const two = await server(ns)
    const bystander = await server(namespace())
    const alice = await authenticatedClient(scope, one.url, 'alice')

    const portal = new Portal(LOCAL_REDIS_URL, { namespace: ns, id: 'billing-portal' })
    portal.on('error', () => {})
    scope.defer(() => portal.close())
    const said: string[] = []
    portal.on('message', (message, userId) => void said.push(`${message.type} ${userId}`))
    await portal.whenReady()
    await waitFor('both servers to see the join', () => one.hooks.length === 1 && two.hooks.length === 1)
    expect(one.hooks).toEqual(['join billing-portal'])
    expect(two.hooks).toEqual(['join billing-portal'])
    // Each server broadcast it from its hook; alice, on server one, gets both over her socket.
    expect((await alice.waitForDelivered(2, 'PORTAL_JOINED')).map((frame) => frame.d)).toEqual([
      { id: 'billing-portal' },
      { id: 'billing-portal' },
    ])
    alice.dispatch('SAY', {})
    await waitFor('the portal to get the message', () => said.length === 1)

    await portal.close()
    await waitFor('both servers to see the leave', () => one.hooks.length === 2 && two.hooks.length === 2)
    expect(one.hooks).toEqual(['join billing-portal', 'leave billing-portal'])
    expect(two.hooks).toEqual(one.hooks)
    expect(bystander.hooks).toEqual([])
  })

  it('report a portal already running to a server that starts later', async () => {
    const ns = namespace()
    const portal = new Portal(redisAdapter(ns), { id: 'early' })
    scope.defer(() => portal.close())
    await portal.whenReady()
    const late = await server(ns)
    await waitFor('the join', () => late.hooks.length === 1)
    expect(late.hooks).toEqual(['join early'])
  })

  it('fire onPortalLeave for a portal process killed with SIGKILL once its liveness lapsed', async () => {
    const ns = namespace()
    const ttl = 900
    const { hooks } = await server(ns, ttl)
    const child = scope.add(
      await Child.start('doomed portal', memberPortal, {
        REDIS_URL: LOCAL_REDIS_URL,
        NAMESPACE: ns,
        MEMBER_TTL_MS: String(ttl),
        PORTAL_ID: 'doomed',
      }),
      (c) => c.kill(),
    )
    await waitFor('the join', () => hooks.length === 1)
    expect(hooks).toEqual(['join doomed'])

    await child.kill('SIGKILL')
    // Expected within the TTL; the deadline is generous because shared machines stall.
    await waitFor('the leave', () => hooks.length === 2, 10_000)
    expect(hooks).toEqual(['join doomed', 'leave doomed'])
  })
})
