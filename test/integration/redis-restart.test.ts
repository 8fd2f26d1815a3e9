import { describe, expect, it } from 'vitest'
import { delay, numbersOf, RedisServer, resumingClients, scenario, startDispatcher, startServers, urlOf, waitFor } from '@mesa/test-kit'

const { scope, watch } = scenario(['core', 'server', 'redis-adapter', 'dispatcher'])

describe('Redis restarting mid-stream', () => {
  it('costs no accepted message, crashes nothing, and replication resumes when Redis is back', async () => {
    const redis = scope.add(await RedisServer.start(), (r) => r.destroy())
    const ns = 'restart'
    const servers = await startServers(scope, redis, 3, { namespace: ns, sync: true })
    const dispatcher = await startDispatcher(scope, redis, { namespace: ns, sync: true })
    watch(...servers, dispatcher)
    const urls = servers.map(urlOf)

    const users = Array.from({ length: 6 }, (_, i) => `w${i}`)
    const clients = [...(await resumingClients(scope, urls, users)).values()]

    const total = 200
    const stream = dispatcher.call<{ accepted: number[]; rejected: { n: number; code: string }[] }>(
      'stream',
      'G',
      0,
      total,
      ['*'],
      undefined,
      10,
    )
    await waitFor('the stream to be under way', () => clients[0]!.messagesOf('G').length >= 20, 15_000)
    await redis.stop()
    // Servers keep serving their own sockets while Redis is away: an unsynced send reaches the local clients,
    // and the caller learns that it could not reach the other servers.
    const local = servers[0]!.call('send', { d: {}, t: 'LOCAL', o: { sync: false } }, ['*'])
    await expect(local).rejects.toMatchObject({ code: 'adapter-failed' })
    const onFirstServer = clients.filter((_, i) => i % 3 === 0)
    for (const c of onFirstServer) await waitFor('the local message', () => c.messagesOf('LOCAL').length === 1)
    await delay(500)
    await redis.start()
    const during = await stream
    // Every send either resolved or rejected with a typed error; nothing in between.
    expect(during.accepted.length + during.rejected.length).toBe(total)
    for (const failure of during.rejected) expect(['store-failed', 'adapter-failed']).toContain(failure.code)

    // Once the dispatcher's connection is back, every send is accepted again.
    await waitFor(
      'a send to be accepted again',
      async () => {
        const probe = await dispatcher.call<{ accepted: number[] }>('stream', 'PROBE', 0, 1, ['nobody'])
        return probe.accepted.length === 1
      },
      15_000,
      100,
    )
    const after = await dispatcher.call<{ accepted: number[]; rejected: unknown[] }>('stream', 'G', total, 50, ['*'])
    expect(after.rejected).toEqual([])
    const accepted = [...during.accepted, ...after.accepted]
    // The servers kept their sockets through the outage: no client had to reconnect.
    for (const c of clients) expect(c.closes, 'the closes that made a client reconnect').toEqual([])
    for (const c of clients) expect(c.acks).toHaveLength(1)
    for (const c of clients.filter((_, i) => i % 3 !== 0)) expect(c.messagesOf('LOCAL')).toEqual([])

    for (const [i, c] of clients.entries()) {
      await waitFor(
        `w${i} to get every accepted message`,
        () => {
          const got = new Set(numbersOf(c.messagesOf('G')))
          return accepted.every((n) => got.has(n))
        },
        20_000,
      )
      const got = numbersOf(c.messagesOf('G'))
      // No duplicates, in order (a message that was stored but whose publish failed may arrive too).
      expect(got).toEqual([...new Set(got)].sort((a, b) => a - b))
    }

    // Replication works again: a send through one server reaches clients on the others.
    await servers[1]!.call('send', { d: { n: -1 }, t: 'AFTER' }, ['*'])
    for (const c of clients)
      await waitFor('the message after the restart', () => c.messagesOf('AFTER').length === 1, 15_000)
    for (const server of servers) {
      expect(server.eventsOf('adapter-error').length).toBeGreaterThan(0)
      await waitFor(`${server.name} to report recovery`, () => server.eventsOf('adapter-ready').length > 0, 15_000)
    }
  })
})
