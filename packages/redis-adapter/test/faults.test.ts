import { AdapterError, StoreError } from '@mesa/core'
import type { Envelope } from '@mesa/core/server'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { RedisAdapter } from '../src/index.js'
import { freePort, RedisServer, Scope, waitFor } from '@mesa/test-kit'

let redis: RedisServer
const scope = new Scope()
const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)

beforeAll(async () => {
  // Keeps nothing across a restart, as a cache-only Redis: clients must be told their history is gone.
  redis = new RedisServer(await freePort(), { persistent: false })
  await redis.start()
  process.on('unhandledRejection', onUnhandled)
})
afterEach(async () => {
  await scope.cleanup()
  await redis.start()
})
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled)
  await redis?.destroy()
})

function adapter(namespace: string): { adapter: RedisAdapter; errors: Error[]; ready: () => number } {
  const a = scope.add(
    new RedisAdapter(redis.url, { namespace, presenceTtlMs: 600, portal: { claimIntervalMs: 50, blockMs: 200 } }),
    (adapter) => adapter.close(),
  )
  const errors: Error[] = []
  let readies = 0
  a.on('error', (e) => errors.push(e))
  a.on('ready', () => readies++)
  return { adapter: a, errors, ready: () => readies }
}

const dispatch = (origin: string, n: number): Envelope => ({ kind: 'dispatch', origin, frame: `{"op":0,"d":${n}}` })

describe('RedisAdapter when Redis stops and comes back', () => {
  it('reports errors, rejects calls while down, then resubscribes and resumes', async () => {
    const a = adapter('faults')
    const b = adapter('faults')
    const received: string[] = []
    await b.adapter.subscribe('b', (e) => void received.push(e.kind === 'dispatch' ? e.frame : ''))
    await b.adapter.presence.join('bob', 'b-socket')
    await b.adapter.presence.join('tina', 't-socket')
    const handled: string[] = []
    await b.adapter.portal.consume({ consumerId: 'portal' }, (e) => void handled.push(e.clientId))
    await a.adapter.publish(dispatch('a', 1))
    const before = await a.adapter.store.append('user:bob', { frame: 'kept?' })
    await waitFor('the first message', () => received.length === 1)

    // Traffic keeps flowing through the outage: every call settles, none escapes as an unhandled rejection.
    const outcomes = { ok: 0, failed: 0 }
    let n = 100
    const traffic = setInterval(() => {
      const i = n++
      Promise.all([a.adapter.publish(dispatch('a', i)), a.adapter.store.append('user:carol', { frame: String(i) })]).then(
        () => outcomes.ok++,
        (error: unknown) => {
          if (error instanceof AdapterError || error instanceof StoreError) outcomes.failed++
          else throw error
        },
      )
    }, 5)

    await redis.stop('SIGKILL')
    await waitFor('error events on both adapters', () => a.errors.length > 0 && b.errors.length > 0)
    expect([...a.errors, ...b.errors].every((e) => e instanceof AdapterError)).toBe(true)
    await expect(a.adapter.store.append('user:bob', { frame: 'lost' })).rejects.toBeInstanceOf(StoreError)
    await expect(a.adapter.store.readAfter('user:bob', before)).rejects.toBeInstanceOf(StoreError)
    await expect(a.adapter.publish(dispatch('a', 2))).rejects.toBeInstanceOf(AdapterError)
    await expect(a.adapter.presence.areOnline(['bob'])).rejects.toBeInstanceOf(AdapterError)
    await expect(b.adapter.presence.leave('tina', 't-socket')).rejects.toBeInstanceOf(AdapterError)
    await expect(
      a.adapter.portal.push({ kind: 'connection', clientId: 'down', serverId: 'a', time: 0 }),
    ).rejects.toBeInstanceOf(AdapterError)

    await redis.start()
    await waitFor('ready on both adapters', () => a.ready() > 0 && b.ready() > 0, 15_000)

    const okBefore = outcomes.ok
    await waitFor('traffic to succeed again', () => outcomes.ok > okBefore + 5)
    clearInterval(traffic)
    expect(outcomes.failed).toBeGreaterThan(0)
    const seen = received.length
    await a.adapter.publish(dispatch('a', 3))
    await waitFor('replication to resume', () => received.includes('{"op":0,"d":3}'))
    expect(received[0]).toBe('{"op":0,"d":1}')
    expect(received.length).toBeGreaterThan(seen)

    // This Redis keeps no data across restarts: the history is gone and clients must be told so.
    const read = await a.adapter.store.readAfter('user:bob', before)
    expect(read.status).toBe('epoch-changed')
    expect(read.head.epoch).not.toBe(before.epoch)
    // Presence was lost with the data and registered again by its server.
    expect(await a.adapter.presence.areOnline(['bob', 'tina'])).toEqual([true, false])

    await a.adapter.portal.push({ kind: 'connection', clientId: 'after', serverId: 'a', time: 1 })
    await waitFor('the portal to resume', () => handled.includes('after'), 15_000)
    expect(unhandled).toEqual([])
  })

  it('resubscribes when only its pub/sub connection is dropped', async () => {
    const a = adapter('faults-pubsub')
    const b = adapter('faults-pubsub')
    const received: string[] = []
    await b.adapter.subscribe('b', (e) => void received.push(e.kind === 'dispatch' ? e.frame : ''))
    const admin = new Redis(redis.url)
    try {
      await admin.client('KILL', 'TYPE', 'pubsub')
    } finally {
      admin.disconnect()
    }
    await waitFor('the error event', () => b.errors.length > 0)
    expect(b.errors[0]!.message).toMatch(/subscriber connection/)
    await waitFor('ready after resubscribing', () => b.ready() > 0)
    await a.adapter.publish(dispatch('a', 1))
    await waitFor('delivery after resubscribing', () => received.length === 1)
    expect(unhandled).toEqual([])
  })

  it('subscribes again to the channels it follows when its pub/sub connection is dropped, and not to those it left', async () => {
    const a = adapter('faults-channels')
    const b = new RedisAdapter(redis.url, { namespace: 'faults-channels', channelLingerMs: 0 })
    scope.add(b, (adapter) => adapter.close())
    let ready = 0
    b.on('error', () => {})
    b.on('ready', () => ready++)
    const received: string[] = []
    await b.subscribe('b', (e) => void (e.kind === 'publication' && received.push(`${e.channel}:${e.frame}`)))
    await b.follow('b', ['kept', 'left'])
    await b.unfollow('b', ['left'])
    const admin = scope.add(new Redis(redis.url), (r) => r.disconnect())
    const numsub = async (channel: string) =>
      ((await admin.pubsub('NUMSUB', `mesa:faults-channels:ch:{faults-channels:ch:${channel}}`)) as [string, number])[1]
    await waitFor('the unsubscription', async () => (await numsub('left')) === 0)
    await admin.client('KILL', 'TYPE', 'pubsub')
    await waitFor('ready after resubscribing', () => ready > 0)
    expect([await numsub('kept'), await numsub('left')]).toEqual([1, 0])
    await a.adapter.publish({ kind: 'publication', origin: 'a', channel: 'left', frame: '1' })
    await a.adapter.publish({ kind: 'publication', origin: 'a', channel: 'kept', frame: '2' })
    await waitFor('delivery after resubscribing', () => received.length === 1)
    expect(received).toEqual(['kept:2'])
    expect(unhandled).toEqual([])
  })

  it('starts while Redis is down and becomes ready when it appears', async () => {
    await redis.stop('SIGKILL')
    const a = adapter('faults-late')
    await waitFor('an error event', () => a.errors.length > 0)
    await expect(a.adapter.store.head('s')).rejects.toBeInstanceOf(StoreError)
    await redis.start()
    await waitFor('a store call to succeed', async () => {
      try {
        await a.adapter.store.head('s')
        return true
      } catch {
        return false
      }
    })
    const received: number[] = []
    const other = adapter('faults-late')
    await other.adapter.subscribe('other', () => void received.push(1))
    await a.adapter.publish(dispatch('a', 1))
    await waitFor('delivery', () => received.length === 1)
    expect(unhandled).toEqual([])
  })
})
