import { describe, expect, it } from 'vitest'
import { authenticatedClient, type Child, RedisServer, scenario, startPortal, startServers, urlOf, waitFor } from '@mesa/test-kit'

const { scope, watch } = scenario(['core', 'server', 'redis-adapter', 'portal'])

function messagesHandled(portal: Child): string[] {
  return portal
    .eventsOf('portal')
    .filter((e) => e.event === 'message')
    .map((e) => `${e.userId}:${(e.data as { n: number }).n}`)
}

describe('a portal process crashing with events in flight', () => {
  it('loses none: another portal claims them, and events sent meanwhile wait for it', async () => {
    const redis = scope.add(await RedisServer.start(), (r) => r.destroy())
    const ns = 'portal-crash'
    const claimTimeoutMs = 1000
    const servers = await startServers(scope, redis, 2, { namespace: ns, portal: true })
    const doomed = await startPortal(scope, redis, { namespace: ns, id: 'doomed', hold: true, claimTimeoutMs })
    const observer = await startPortal(scope, redis, { namespace: ns, id: 'observer', reportAllEvents: true })
    watch(...servers, observer)
    const urls = servers.map(urlOf)

    const alice = await authenticatedClient(scope, urls[0]!, 'alice')
    const bob = await authenticatedClient(scope, urls[1]!, 'bob')
    for (let n = 0; n < 10; n++) (n % 2 === 0 ? alice : bob).dispatch('SAY', { n })
    await waitFor('the doomed portal to hold all ten', () => messagesHandled(doomed).length === 10, 15_000)

    await doomed.kill('SIGKILL')
    // No portal handles events now: these must wait.
    for (let n = 10; n < 15; n++) alice.dispatch('SAY', { n })
    await waitFor(
      'the observer to see all 15',
      () => observer.eventsOf('portal').filter((e) => e.event === 'message').length >= 15,
      15_000,
    )

    const survivor = await startPortal(scope, redis, { namespace: ns, id: 'survivor', claimTimeoutMs })
    watch(survivor)
    await waitFor('the survivor to handle all 15', () => new Set(messagesHandled(survivor)).size === 15, 20_000)
    const expected = Array.from({ length: 15 }, (_, n) => `${n % 2 === 0 || n >= 10 ? 'alice' : 'bob'}:${n}`)
    expect([...new Set(messagesHandled(survivor))].sort()).toEqual(expected.sort())
    // The connection and authentication events the doomed portal held were claimed too.
    const authentications = survivor
      .eventsOf('portal')
      .filter((e) => e.event === 'authentication')
      .map((e) => e.userId)
    expect([...new Set(authentications)].sort()).toEqual(['alice', 'bob'])
  })
})
