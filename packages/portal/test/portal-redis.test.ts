import type { PortalEvent } from '@mesa/core/server'
import { RedisAdapter } from '@mesa/redis-adapter'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { delay, freePort, LOCAL_REDIS_URL, LocalNamespaces, RedisServer, Scope, waitFor, withTimeout } from '@mesa/test-kit'
import { Portal, type PortalOptions } from '../src/index.js'

const scope = new Scope()
const namespaces = new LocalNamespaces('portal-test')
afterEach(() => scope.cleanup())
afterAll(() => namespaces.deleteKeys())
const namespace = () => namespaces.next()

/** What a server does: push events to the namespace's portal queue. */
function serverSide(ns: string): RedisAdapter {
  const adapter = new RedisAdapter(LOCAL_REDIS_URL, { namespace: ns })
  scope.defer(() => adapter.close())
  return adapter
}

function portal(url: string, options: PortalOptions = {}): Portal {
  const created = new Portal(url, options)
  created.on('error', () => {})
  scope.defer(() => created.close())
  return created
}

function messageEvent(n: number): PortalEvent {
  return {
    kind: 'message',
    clientId: `c${n}`,
    serverId: 's',
    userId: `u${n}`,
    frame: { op: 0, d: { n }, t: 'SAY' },
    time: n,
  }
}

describe('Portal on Redis, created from a URL', () => {
  it('loads @mesa/redis-adapter, gives each event to exactly one of two portals and all to a reportAllEvents one', async () => {
    const ns = namespace()
    const server = serverSide(ns)
    const got = new Map<string, number[]>([
      ['a', []],
      ['b', []],
    ])
    for (const id of ['a', 'b']) {
      const p = portal(LOCAL_REDIS_URL, { namespace: ns, id })
      p.on('message', (message) => got.get(id)!.push(message.data.n as number))
      await p.whenReady()
    }
    const observed: number[] = []
    const observer = portal(LOCAL_REDIS_URL, { namespace: ns, reportAllEvents: true })
    observer.on('message', (message) => observed.push(message.data.n as number))
    await observer.whenReady()

    const total = 20
    for (let n = 0; n < total; n++) {
      await server.portal.push(messageEvent(n))
      await delay(10)
    }
    const all = () => [...got.values()].flat()
    await waitFor('every event handled and observed', () => all().length >= total && observed.length >= total)
    await delay(100)
    expect(all().sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, n) => n))
    expect(got.get('a')!.length).toBeGreaterThan(0)
    expect(got.get('b')!.length).toBeGreaterThan(0)
    expect([...observed].sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, n) => n))
  })

  it('hands an event over to another portal when the one handling it closes mid-event', async () => {
    const ns = namespace()
    const server = serverSide(ns)
    const started: number[] = []
    const first = portal(LOCAL_REDIS_URL, {
      namespace: ns,
      id: 'first',
      handler: (event) => {
        if (event.kind === 'message') started.push(event.message.data.n as number)
        return new Promise<void>(() => {})
      },
    })
    await first.whenReady()
    await server.portal.push(messageEvent(1))
    await waitFor('the first portal to take it', () => started.length === 1)

    const second: number[] = []
    const other = portal(LOCAL_REDIS_URL, { namespace: ns, id: 'second' })
    other.on('message', (message) => second.push(message.data.n as number))
    await other.whenReady()
    await first.close()
    await waitFor('the second portal to get it', () => second.length === 1)
    expect(second).toEqual([1])
  })

  it('redelivers an event whose listener threw', async () => {
    const ns = namespace()
    const server = serverSide(ns)
    let attempts = 0
    const done: number[] = []
    const p = portal(LOCAL_REDIS_URL, { namespace: ns })
    p.on('message', (message) => {
      attempts++
      if (attempts === 1) throw new Error('transient failure')
      done.push(message.data.n as number)
    })
    await p.whenReady()
    await server.portal.push(messageEvent(5))
    await waitFor('the retry', () => done.length === 1)
    expect(attempts).toBe(2)
  })

  it('keeps events pushed while no portal runs and delivers them when one starts', async () => {
    const ns = namespace()
    const server = serverSide(ns)
    for (let n = 0; n < 5; n++) await server.portal.push(messageEvent(n))
    const got: number[] = []
    const late = portal(LOCAL_REDIS_URL, { namespace: ns })
    late.on('message', (message) => got.push(message.data.n as number))
    await waitFor('the waiting events', () => got.length === 5)
    expect(got).toEqual([0, 1, 2, 3, 4])
  })

  it('takes ioredis connection options as Mesa 1.x did', async () => {
    const ns = namespace()
    const server = serverSide(ns)
    const got: number[] = []
    const p = new Portal({ host: '127.0.0.1', port: 6379 }, { namespace: ns })
    scope.defer(() => p.close())
    p.on('message', (message) => got.push(message.data.n as number))
    await p.whenReady()
    await server.portal.push(messageEvent(3))
    await waitFor('the event', () => got.length === 1)
    expect(got).toEqual([3])
  })

  it('keeps trying to start while Redis is unreachable, reporting errors, and consumes once it is up', async () => {
    const port = await freePort()
    const url = `redis://127.0.0.1:${port}`
    const p = new Portal(url, { namespace: 'unreachable-at-start' })
    scope.defer(() => p.close())
    const errors: Error[] = []
    p.on('error', (error) => errors.push(error))
    const got: number[] = []
    p.on('message', (message) => got.push(message.data.n as number))
    await waitFor('a reported failure', () => errors.length > 0)
    expect(p.isReady).toBe(false)

    const redis = await RedisServer.start(port)
    scope.defer(() => redis.destroy())
    await p.whenReady()
    const adapter = new RedisAdapter(url, { namespace: 'unreachable-at-start' })
    scope.defer(() => adapter.close())
    await adapter.portal.push(messageEvent(1))
    await waitFor('the event', () => got.length === 1)
  })

  it('stops retrying when closed before Redis was reachable', async () => {
    const p = new Portal(`redis://127.0.0.1:${await freePort()}`, { namespace: 'never-reachable' })
    const errors: Error[] = []
    p.on('error', (error) => errors.push(error))
    await waitFor('a reported failure', () => errors.length > 0)
    await p.close()
    await expect(p.whenReady()).rejects.toThrow('the portal is closed')
  })

  it('closes while Redis is down, a handling portal and a reportAllEvents one alike', async () => {
    const redis = await RedisServer.start()
    scope.defer(() => redis.destroy())
    const handling = new Portal(redis.url, { namespace: 'outage-close' })
    const observing = new Portal(redis.url, { namespace: 'outage-close', reportAllEvents: true })
    for (const p of [handling, observing]) {
      p.on('error', () => {})
      scope.defer(() => p.close())
      await p.whenReady()
    }
    await redis.stop('SIGKILL')
    await delay(200)
    await withTimeout('the handling portal to close', handling.close(), 10_000)
    await withTimeout('the observing portal to close', observing.close(), 10_000)
    expect(handling.isReady).toBe(false)
  })
})
