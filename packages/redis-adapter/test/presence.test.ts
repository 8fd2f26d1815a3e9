import { afterEach, describe, expect, it } from 'vitest'
import { LOCAL_REDIS_URL, waitFor } from '@mesa/test-kit'
import { TestScope } from './support/scope.js'

const scope = new TestScope()
afterEach(() => scope.cleanup())

// What every presence must do is in the adapter contract (adapter-contract.test.ts); these are the Redis
// presence's own ways: per-server liveness, re-registration.
describe('RedisPresence', () => {
  it('removes the users of a server killed with SIGKILL within the TTL', async () => {
    const namespace = scope.namespace()
    const ttl = 900
    const survivor = scope.adapter({ namespace, presenceTtlMs: ttl })
    await survivor.presence.join('shared', 's-1')
    const child = await scope.fixture('presence-server', { REDIS_URL: LOCAL_REDIS_URL, NAMESPACE: namespace, TTL_MS: String(ttl), SOCKETS: 'doomed:d-1,doomed:d-2,shared:d-3' })
    expect(await survivor.presence.areOnline(['doomed', 'shared'])).toEqual([true, true])
    expect(await survivor.presence.onlineCount()).toBe(2)
    await child.kill()
    // Expected within the TTL (the key lives two thirds of it, a sweep follows within a third); the deadline
    // is generous because shared machines stall.
    await waitFor('the dead server to be cleaned up', async () => (await survivor.presence.areOnline(['doomed']))[0] === false, 10_000)
    expect(await survivor.presence.areOnline(['doomed', 'shared'])).toEqual([false, true])
    expect(await survivor.presence.onlineCount()).toBe(1)
    const keys = await scope.keysOf(namespace)
    expect(keys.filter((k) => k.includes(':sockets:'))).toHaveLength(1)
  })

  it('registers its sockets again when its registrations were lost', async () => {
    const namespace = scope.namespace()
    const a = scope.adapter({ namespace, presenceTtlMs: 300 })
    await a.presence.join('u1', 's1')
    await a.presence.join('u2', 's2')
    const keys = await scope.keysOf(namespace)
    await scope.redis().del(...keys)
    expect(await a.presence.onlineCount()).toBe(0)
    await waitFor('re-registration', async () => (await a.presence.onlineCount()) === 2, 3000)
    expect(await a.presence.areOnline(['u1', 'u2'])).toEqual([true, true])
  })

})
