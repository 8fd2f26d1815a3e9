import { AdapterError, ConfigError } from '@mesa/core'
import type { PortalMembershipEvent } from '@mesa/core/server'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { RedisAdapter } from '../src/index.js'
import { freePort, LOCAL_REDIS_URL, RedisCluster, RedisServer, waitFor } from '@mesa/test-kit'
import { TestScope } from './support/scope.js'

const scope = new TestScope()
afterEach(() => scope.cleanup())

/**
 * Records the membership reports `adapter` gives, until `stop()` or the scope's cleanup (which runs before the
 * adapter closes).
 */
async function watching(adapter: RedisAdapter): Promise<{ events: string[]; stop: () => Promise<void> }> {
  const events: string[] = []
  const record = (event: PortalMembershipEvent) => void events.push(`${event.kind} ${event.portalId}`)
  let stopped: Promise<void> | undefined
  const unwatch = await adapter.portal.watchMembers(record)
  const stop = () => {
    stopped ??= unwatch()
    return stopped
  }
  scope.defer(stop)
  return { events, stop }
}

async function watch(adapter: RedisAdapter): Promise<string[]> {
  return (await watching(adapter)).events
}

const noop = () => {}

describe('RedisPortalQueue membership', () => {
  it('announces joins and leaves to every adapter of the namespace, and current members to a late watcher', async () => {
    const namespace = scope.namespace()
    const serverA = scope.adapter({ namespace })
    const serverB = scope.adapter({ namespace })
    const portals = scope.adapter({ namespace })
    const elsewhere = scope.adapter()
    const a = await watch(serverA)
    const { events: other, stop: stopOther } = await watching(elsewhere)
    expect(a).toEqual([])

    const worker = await portals.portal.consume({ consumerId: 'worker 1' }, noop)
    const observer = await portals.portal.consume({ consumerId: 'observer', reportAllEvents: true }, noop)
    await waitFor('the joins', () => a.length === 2)
    expect(a).toEqual(['join worker 1', 'join observer'])

    // Current members are reported before watchMembers resolves.
    const { events: b, stop: stopB } = await watching(serverB)
    expect([...b].sort()).toEqual(['join observer', 'join worker 1'])

    await worker.close()
    await worker.close()
    await waitFor('the leave on both', () => a.length === 3 && b.length === 3)
    expect(a[2]).toBe('leave worker 1')
    expect(b[2]).toBe('leave worker 1')

    // The last watcher of an adapter going away closes its watch; watching again starts afresh.
    await stopOther()
    await stopB()
    const again = await watch(serverB)
    expect(again).toEqual(['join observer'])

    await observer.close()
    await waitFor('the observer to leave', () => a.length === 4 && again.length === 2)
    expect(again).toEqual(['join observer', 'leave observer'])
    expect(other).toEqual([])
    expect(await scope.keysOf(namespace)).not.toContain(expect.stringMatching(/:members$/))
  })

  it('announces the leave of a portal process killed with SIGKILL once its TTL lapsed', async () => {
    const namespace = scope.namespace()
    const server = scope.adapter({ namespace, portal: { memberTtlMs: 900 } })
    const events = await watch(server)
    const child = await scope.fixture('member-portal', { REDIS_URL: LOCAL_REDIS_URL, NAMESPACE: namespace, MEMBER_TTL_MS: '900', PORTAL_ID: 'doomed' })
    await waitFor('the join', () => events.length === 1)
    expect(events).toEqual(['join doomed'])
    await child.kill()
    // Within the TTL (the registration lives two thirds of it, a sweep follows within a third); the deadline is
    // generous because shared machines stall.
    await waitFor('the leave', () => events.length === 2, 10_000)
    expect(events).toEqual(['join doomed', 'leave doomed'])
  })

  it('keeps portals that register again after Redis lost the membership, and reports the ones that do not', async () => {
    const namespace = scope.namespace()
    const server = scope.adapter({ namespace, portal: { memberTtlMs: 3000 } })
    const portals = scope.adapter({ namespace, portal: { memberTtlMs: 1500 } })
    const events = await watch(server)
    await portals.portal.consume({ consumerId: 'survivor' }, noop)
    const ghost = await scope.fixture('member-portal', { REDIS_URL: LOCAL_REDIS_URL, NAMESPACE: namespace, MEMBER_TTL_MS: '1500', PORTAL_ID: 'ghost' })
    await waitFor('the joins', () => events.length === 2)

    const redis = scope.redis()
    const membershipKeys = (await scope.keysOf(namespace)).filter((key) => key.includes(':members'))
    expect(membershipKeys).toHaveLength(2)
    const members = membershipKeys.find((key) => key.endsWith(':members'))!
    // The ghost dies as Redis loses the membership: nothing will ever register it again, or announce it gone.
    await ghost.kill()
    await redis.del(...membershipKeys)
    // Announced in the new epoch before the survivor's next refresh: the server reads a membership without it.
    const newcomer = await scope.adapter({ namespace }).portal.consume({ consumerId: 'newcomer' }, noop)
    await waitFor('the newcomer', () => events.length === 3)
    await waitFor('the survivor to register again', async () => (await redis.zscore(members, 'survivor')) !== null)
    await newcomer.close()
    await waitFor('the newcomer to leave', () => events.length === 4)
    expect(events).toEqual(['join survivor', 'join ghost', 'join newcomer', 'leave newcomer'])
    // Once the server's grace (its memberTtlMs) is over, the ghost is reported gone; the survivor never was.
    await waitFor('the ghost to leave', () => events.length === 5, 10_000)
    expect(events[4]).toBe('leave ghost')
  })

  it('reports a throwing listener as an adapter error and still tells the others', async () => {
    const namespace = scope.namespace()
    const server = scope.adapter({ namespace })
    const errors: Error[] = []
    server.on('error', (error) => void errors.push(error))
    scope.defer(
      await server.portal.watchMembers(() => {
        throw new Error('listener broke')
      }),
    )
    const events = await watch(server)
    const consumer = await scope.adapter({ namespace }).portal.consume({ consumerId: 'p' }, noop)
    await waitFor('the join', () => events.length === 1)
    expect(errors.map((e) => [e instanceof AdapterError, (e.cause as Error).message])).toEqual([[true, 'listener broke']])
    await consumer.close()
  })

  it('validates memberTtlMs and the listener, and refuses to watch once closed', async () => {
    expect(() => new RedisAdapter(LOCAL_REDIS_URL, { portal: { memberTtlMs: 2 } })).toThrow(ConfigError)
    const adapter = scope.adapter()
    await expect(adapter.portal.watchMembers(42 as never)).rejects.toBeInstanceOf(ConfigError)
    await adapter.close()
    await expect(adapter.portal.watchMembers(noop)).rejects.toBeInstanceOf(AdapterError)
  })
})

describe('RedisPortalQueue membership across a Redis restart that loses everything', () => {
  let redis: RedisServer
  beforeAll(async () => {
    redis = new RedisServer(await freePort(), { persistent: false })
    await redis.start()
  })
  afterAll(async () => {
    await redis?.destroy()
  })

  it('watches again, keeps the portal that registers again and reports the one that closed meanwhile', async () => {
    const namespace = scope.namespace()
    const adapter = (memberTtlMs: number) => {
      const created = scope.adapter({ namespace, portal: { memberTtlMs } }, redis.url)
      created.on('error', () => {})
      return created
    }
    const server = adapter(1500)
    const events = await watch(server)
    await adapter(600).portal.consume({ consumerId: 'steady' }, noop)
    const lost = await adapter(600).portal.consume({ consumerId: 'lost' }, noop)
    await waitFor('the joins', () => events.length === 2)

    await redis.stop()
    // Closed while Redis is away: it cannot unregister, and after the restart nothing knows it any more.
    await lost.close()
    await redis.start()

    await waitFor('the closed portal to be reported', () => events.length === 3, 10_000)
    expect(events).toEqual(['join steady', 'join lost', 'leave lost'])
    const probe = scope.redis(redis.url)
    const members = (await probe.keys(`mesa:${namespace}:*`)).find((key) => key.endsWith(':members'))!
    expect(await probe.zrange(members, 0, -1)).toEqual(['steady'])
    // The watch works again: a portal starting now is announced.
    const fresh = await adapter(600).portal.consume({ consumerId: 'fresh' }, noop)
    await waitFor('the new portal', () => events.length === 4)
    await fresh.close()
    await waitFor('it to leave', () => events.length === 5)
    expect(events.slice(3)).toEqual(['join fresh', 'leave fresh'])
  })
})

describe('RedisPortalQueue membership on a Redis Cluster', () => {
  let cluster: RedisCluster
  beforeAll(async () => {
    cluster = await RedisCluster.start()
  }, 60_000)
  afterAll(async () => {
    await cluster?.destroy()
  })

  it('announces through sharded pub/sub from the scripts', async () => {
    const namespace = scope.namespace()
    const server = scope.adapter({ namespace }, { cluster: cluster.startupNodes })
    const portals = scope.adapter({ namespace }, { cluster: cluster.startupNodes })
    const events = await watch(server)
    const consumer = await portals.portal.consume({ consumerId: 'sharded' }, noop)
    await waitFor('the join', () => events.length === 1)
    await consumer.close()
    await waitFor('the leave', () => events.length === 2)
    expect(events).toEqual(['join sharded', 'leave sharded'])
  })
})
