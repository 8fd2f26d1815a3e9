import { PortalQueueFullError } from '@mesa/core'
import type { PortalEvent } from '@mesa/core/server'
import type { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { LOCAL_REDIS_URL, waitFor } from '@mesa/test-kit'
import { TestScope } from './support/scope.js'

const scope = new TestScope()
afterEach(() => scope.cleanup())

function event(n: number): PortalEvent {
  return { kind: 'message', clientId: `c${n}`, serverId: 'srv', userId: 'u', frame: { op: 0, d: { n } }, time: n }
}

const fast = { claimIntervalMs: 50, blockMs: 200 }

/** The stream of a namespace's portal queue. */
const eventsKey = (namespace: string) => `mesa:${namespace}:portal:{${namespace}:portal}:events`

/** The queue's one unacknowledged event as XPENDING tells it: its id, owner, idle ms and deliveries. */
async function onlyPending(redis: Redis, namespace: string): Promise<[string, string, number, number]> {
  const entries = (await redis.xpending(eventsKey(namespace), 'portals', '-', '+', 2)) as [string, string, number, number][]
  expect(entries).toHaveLength(1)
  return entries[0]!
}

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

  it('never claims back an event its own hung handler still runs: the event waits for another portal', async () => {
    const namespace = scope.namespace()
    const options = { namespace, portal: { claimIntervalMs: 10, blockMs: 50, claimTimeoutMs: 100 } }
    const attempts: string[] = []
    await scope.adapter(options).portal.consume({ consumerId: 'stuck' }, (e) => {
      attempts.push(`stuck:${e.clientId}`)
      return new Promise<void>(() => {})
    })
    const server = scope.adapter(options)
    await server.portal.push(event(1))
    await waitFor('the stuck portal to take it', () => attempts.length === 1)
    // Alone, the stuck portal's claims (every 10 ms) find it claimable from 100 ms on; a claim would count a
    // second delivery and start its idle time again.
    const redis = scope.redis()
    const [, owner, , deliveries] = await waitFor('four claim timeouts idle, or a second delivery', async () => {
      const entry = await onlyPending(redis, namespace)
      return entry[2] >= 400 || entry[3] > 1 ? entry : undefined
    })
    expect([owner, deliveries]).toEqual(['stuck', 1])
    expect(attempts).toEqual(['stuck:c1'])
    await server.portal.consume({ consumerId: 'ok' }, (e) => void attempts.push(`ok:${e.clientId}`))
    await waitFor('the other portal to take it', () => attempts.length === 2)
    expect(attempts).toEqual(['stuck:c1', 'ok:c1'])
  })

  it('leaves an event with the portal that took it over when the hung handler fails at last', async () => {
    const namespace = scope.namespace()
    const claimTimeoutMs = 100
    // This portal never claims within the test: the other one takes the event over.
    const stuck = scope.adapter({ namespace, portal: { claimIntervalMs: 60_000, blockMs: 50, claimTimeoutMs } })
    let fail: (error: Error) => void = () => {}
    const attempts: string[] = []
    await stuck.portal.consume({ consumerId: 'stuck' }, (e) => {
      attempts.push(`stuck:${e.clientId}`)
      return new Promise<void>((_, reject) => (fail = reject))
    })
    const server = scope.adapter({ namespace, portal: { claimIntervalMs: 10, blockMs: 50, claimTimeoutMs } })
    await server.portal.push(event(1))
    await waitFor('the stuck portal to take it', () => attempts.length === 1)
    await server.portal.consume({ consumerId: 'ok' }, (e) => {
      attempts.push(`ok:${e.clientId}`)
      return new Promise<void>(() => {})
    })
    await waitFor('the other portal to take it over', () => attempts.length === 2)
    fail(new Error('too late'))
    // The failure is handled in microtasks, then sent on the command connection, whose commands Redis runs in
    // order: once a later command of it answers, the failure's has run.
    await new Promise((resolve) => setImmediate(resolve))
    await stuck.portal.pending()
    const [, owner, , deliveries] = await onlyPending(scope.redis(), namespace)
    expect([owner, deliveries]).toEqual(['ok', 2])
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
    const key = eventsKey(namespace)
    await waitFor('handled events to be trimmed', async () => (await scope.redis().xlen(key)) <= 10)
    for (let i = 0; i < 15; i++) await server.portal.push(event(100 + i))
    await waitFor('the new events', () => handled === 35)
  })

  it('tells its depth when Redis cannot tell the group lag (an undelivered event was deleted)', async () => {
    const namespace = scope.namespace()
    const server = scope.adapter({ namespace, portal: fast })
    for (let i = 0; i < 4; i++) await server.portal.push(event(i))
    const key = eventsKey(namespace)
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
    const events = eventsKey(namespace)
    const bytes = `${events}-bytes`
    /**
     * The count and what the stream holds, as the count should say, read in one transaction: the worker may trim
     * between two separate reads.
     */
    const countAndHeld = async () => {
      const [[, count], [, entries]] = (await redis.multi().get(bytes).xrange(events, '-', '+').exec()) as [
        [null, string | null],
        [null, [string, string[]][]],
      ]
      return { count: Number(count), held: entries.reduce((sum, [, fields]) => sum + Buffer.byteLength(fields[1]!), 0) }
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
    const afterTrim = await countAndHeld()
    expect(afterTrim.count).toBe(afterTrim.held)
    // Handled events left in the stream make room when a push needs it.
    for (let i = 5; i < 10; i++) await server.portal.push(event(i))
    const afterPushes = await countAndHeld()
    expect(afterPushes.count).toBe(afterPushes.held)
    await waitFor('the new events', () => handled === 10)
    // Redis lost the stream but not the count: a new stream starts from 0 bytes.
    await redis.del(events)
    await redis.set(bytes, size * 5)
    await server.portal.push(event(9))
    expect(await redis.get(bytes)).toBe(String(size))
  })

  it('removes the consumers of portals that closed or died once they own nothing', async () => {
    const namespace = scope.namespace()
    const key = eventsKey(namespace)
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
    await scope.redis().del(eventsKey(namespace))
    await adapter.portal.push(event(1))
    await waitFor('the event after the loss', () => handled.length === 1)
  })
})
