import { describe, expect, it } from 'vitest'
import { authenticatedClient, numbersOf, RedisServer, resumingClients, scenario, startDispatcher, startServers, urlOf, waitFor } from '@mesa/test-kit'

const { scope, watch } = scenario(['core', 'server', 'redis-adapter', 'dispatcher'])

describe('kill -9 of a server process mid-stream', () => {
  it('its clients resume on the other servers with nothing lost, and presence recovers within the TTL', async () => {
    const redis = scope.add(await RedisServer.start(), (r) => r.destroy())
    const presenceTtlMs = 1500
    const ns = 'crash'
    const servers = await startServers(scope, redis, 3, { namespace: ns, sync: true, presenceTtlMs })
    const dispatcher = await startDispatcher(scope, redis, { namespace: ns, sync: true })
    watch(...servers, dispatcher)
    const urls = servers.map(urlOf)

    // Six users, two per server; each reconnects to the next server in its list when its server dies.
    const users = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5']
    const clients = await resumingClients(scope, urls, users)
    // A user with one socket on the doomed server and no reconnection: presence must let it go.
    await authenticatedClient(scope, urls[0]!, 'lost')
    await waitFor('7 users online', async () => (await servers[1]!.call<number>('onlineCount')) === 7)

    const total = 150
    const globalStream = dispatcher.call<{ accepted: number[]; rejected: unknown[] }>(
      'stream',
      'G',
      0,
      total,
      ['*'],
      undefined,
      4,
    )
    const targetedStream = dispatcher.call<{ accepted: number[]; rejected: unknown[] }>(
      'stream',
      'T',
      0,
      total,
      users,
      undefined,
      4,
    )
    const first = clients.get('r0')!
    await waitFor('the stream to be under way', () => first.messagesOf('G').length >= 30, 15_000)
    await servers[0]!.kill('SIGKILL')
    // Killed mid-stream: its clients had not got everything yet.
    expect(first.messagesOf('G').length).toBeLessThan(total)

    const [global, targeted] = await Promise.all([globalStream, targetedStream])
    expect(global.rejected).toEqual([])
    expect(targeted.rejected).toEqual([])
    expect(global.accepted).toHaveLength(total)

    const expected = Array.from({ length: total }, (_, n) => n)
    for (const [user, c] of clients) {
      await waitFor(
        `${user} to get every message`,
        () => c.messagesOf('G').length >= total && c.messagesOf('T').length >= total,
        20_000,
      )
      expect(c.failure).toBeUndefined()
      // Exactly once and in order, across the reconnect.
      expect({ user, g: numbersOf(c.messagesOf('G')) }).toEqual({ user, g: expected })
      expect({ user, t: numbersOf(c.messagesOf('T')) }).toEqual({ user, t: expected })
    }
    // The clients of the dead server moved: r0 and r3 started there.
    for (const user of ['r0', 'r3']) {
      expect(clients.get(user)!.acks.length).toBe(2)
      expect(clients.get(user)!.url).not.toBe(urls[0])
    }

    await waitFor(
      "the dead server's user to go offline",
      async () => (await servers[1]!.call('isOnline', 'lost')) === false,
      presenceTtlMs * 4 + 5000,
    )
    expect(await servers[2]!.call('onlineCount')).toBe(6)
    for (const user of users) expect(await servers[2]!.call('isOnline', user)).toBe(true)
  })
})
