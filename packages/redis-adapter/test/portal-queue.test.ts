import { PortalQueueFullError } from '@mesa/core'
import type { PortalEvent } from '@mesa/core/server'
import { afterEach, describe, expect, it } from 'vitest'
import { LOCAL_REDIS_URL, waitFor } from '@mesa/test-kit'
import { TestScope } from './support/scope.js'

const scope = new TestScope()
afterEach(() => scope.cleanup())

function event(n: number): PortalEvent {
  return { kind: 'message', clientId: `c${n}`, serverId: 'srv', userId: 'u', frame: { op: 0, d: { n } }, time: n }
}

const fast = { claimIntervalMs: 50, blockMs: 200 }

// What every portal queue must do is in the adapter contract (adapter-contract.test.ts); these are the Redis
// queue's own ways: a SIGKILLed portal process, trimming, consumer pruning, a lost stream.
describe('RedisPortalQueue', () => {
  it('reclaims events in flight on a portal process killed with SIGKILL', async () => {
    const namespace = scope.namespace()
    const server = scope.adapter({ namespace, portal: fast })
    const child = await scope.fixture('portal-worker', { REDIS_URL: LOCAL_REDIS_URL, NAMESPACE: namespace, CLAIM_TIMEOUT_MS: '300' })
    for (let i = 0; i < 5; i++) await server.portal.push(event(i))
    await waitFor('the doomed portal to take them', () => child.eventsOf('taken').length === 5)
    await child.kill()
    const survivor = scope.adapter({ namespace, portal: { ...fast, claimTimeoutMs: 300 } })
    const handled: string[] = []
    await survivor.portal.consume({ consumerId: 'survivor' }, (e) => void handled.push(e.clientId))
    await waitFor('the survivor to claim every event', () => handled.length === 5)
    expect(handled.sort()).toEqual(['c0', 'c1', 'c2', 'c3', 'c4'])
  })

  it('bounds the backlog: push rejects with PortalQueueFullError and handled events are trimmed', async () => {
    const namespace = scope.namespace()
    const server = scope.adapter({ namespace, portal: { ...fast, maxPending: 20 } })
    for (let i = 0; i < 20; i++) await server.portal.push(event(i))
    const error = await server.portal.push(event(20)).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PortalQueueFullError)
    const worker = scope.adapter({ namespace, portal: { ...fast, maxPending: 20 } })
    let handled = 0
    await worker.portal.consume({ consumerId: 'w' }, () => {
      handled++
    })
    await waitFor('the backlog to be handled', () => handled === 20)
    const key = `mesa:${namespace}:portal:{${namespace}:portal}:events`
    await waitFor('handled events to be trimmed', async () => (await scope.redis().xlen(key)) <= 10)
    for (let i = 0; i < 15; i++) await server.portal.push(event(100 + i))
    await waitFor('the new events', () => handled === 35)
  })

  it('tells its depth when Redis cannot tell the group lag (an undelivered event was deleted)', async () => {
    const namespace = scope.namespace()
    const server = scope.adapter({ namespace, portal: fast })
    for (let i = 0; i < 4; i++) await server.portal.push(event(i))
    const key = `mesa:${namespace}:portal:{${namespace}:portal}:events`
    const redis = scope.redis()
    // One event taken (not acknowledged), then one of those not yet delivered deleted: Redis reports no lag.
    await redis.xreadgroup('GROUP', 'portals', 'raw', 'COUNT', 1, 'STREAMS', key, '>')
    const entries = await redis.xrange(key, '-', '+')
    await redis.xdel(key, entries[2]![0])
    const [group] = (await redis.xinfo('GROUPS', key)) as unknown[][]
    expect(group![group!.indexOf('lag') + 1]).toBeNull()
    expect(await server.portal.pending()).toBe(3)
  })

  it('bounds the bytes of the backlog, its count kept beside the stream as events come and are trimmed', async () => {
    const namespace = scope.namespace()
    const size = JSON.stringify(event(0)).length
    const options = { namespace, portal: { ...fast, maxPendingBytes: size * 5 } }
    const server = scope.adapter(options)
    const redis = scope.redis()
    const events = `mesa:${namespace}:portal:{${namespace}:portal}:events`
    const bytes = `${events}-bytes`
    /** What the stream holds, as the count should say. */
    const held = async () => {
      const entries = (await redis.xrange(events, '-', '+')) as [string, string[]][]
      return entries.reduce((sum, [, fields]) => sum + Buffer.byteLength(fields[1]!), 0)
    }
    for (let i = 0; i < 2; i++) await server.portal.push(event(i))
    // A queue written before the count was kept: counted from the stream once.
    await redis.del(bytes)
    for (let i = 2; i < 5; i++) await server.portal.push(event(i))
    expect(await redis.get(bytes)).toBe(String(size * 5))
    await expect(server.portal.push(event(5))).rejects.toMatchObject({ bound: 'maxPendingBytes' })
    const worker = scope.adapter(options)
    let handled = 0
    await worker.portal.consume({ consumerId: 'w' }, () => {
      handled++
    })
    await waitFor('the backlog to be handled', () => handled === 5)
    // Over half the bytes bound, handled events are trimmed (down to half, for reportAllEvents readers) and their
    // bytes taken off.
    await waitFor('handled events to be trimmed', async () => Number(await redis.get(bytes)) <= (size * 5) / 2)
    await waitFor('every event acknowledged', async () => (await redis.xpending(events, 'portals'))[0] === 0)
    expect(Number(await redis.get(bytes))).toBe(await held())
    // Handled events left in the stream make room when a push needs it.
    for (let i = 5; i < 10; i++) await server.portal.push(event(i))
    expect(Number(await redis.get(bytes))).toBe(await held())
    await waitFor('the new events', () => handled === 10)
    // Redis lost the stream but not the count: a new stream starts from 0 bytes.
    await redis.del(events)
    await redis.set(bytes, size * 5)
    await server.portal.push(event(9))
    expect(await redis.get(bytes)).toBe(String(size))
  })

  it('removes the consumers of portals that closed or died once they own nothing', async () => {
    const namespace = scope.namespace()
    const key = `mesa:${namespace}:portal:{${namespace}:portal}:events`
    const options = { portal: { claimIntervalMs: 20, blockMs: 20, claimTimeoutMs: 50 } }
    const server = scope.adapter({ namespace, ...options })
    const names = async () =>
      ((await scope.redis().xinfo('CONSUMERS', key, 'portals')) as string[][]).map((c) => c[1]!)

    const closing = scope.adapter({ namespace, ...options })
    let closingHandled = 0
    const consumer = await closing.portal.consume({ consumerId: 'closing' }, () => {
      closingHandled++
    })
    await server.portal.push(event(1))
    await waitFor('the closing portal to handle its event', () => closingHandled === 1)
    expect(await names()).toContain('closing')
    await consumer.close()
    expect(await names()).not.toContain('closing')

    const dying = scope.adapter({ namespace, ...options })
    let taken = 0
    await dying.portal.consume({ consumerId: 'dying' }, () => {
      taken++
      return new Promise<void>(() => {})
    })
    await server.portal.push(event(2))
    await waitFor('the dying portal to take its event', () => taken === 1)
    // Its process is gone: its connections drop without acknowledging or handing over anything.
    dying.client.disconnect()
    await dying.close()
    expect(await names()).toContain('dying')

    const staying = scope.adapter({ namespace, ...options })
    const handled: string[] = []
    await staying.portal.consume({ consumerId: 'staying' }, (e) => void handled.push(e.clientId))
    await waitFor('the survivor to claim the event', () => handled.includes('c2'))
    await waitFor('the dead consumer to be pruned', async () => !(await names()).includes('dying'))
  })

  it('recreates its group when Redis lost the stream', async () => {
    const namespace = scope.namespace()
    const adapter = scope.adapter({ namespace, portal: fast })
    const handled: string[] = []
    await adapter.portal.consume({ consumerId: 'p' }, (e) => void handled.push(e.clientId))
    await scope.redis().del(`mesa:${namespace}:portal:{${namespace}:portal}:events`)
    await adapter.portal.push(event(1))
    await waitFor('the event after the loss', () => handled.length === 1)
  })
})
