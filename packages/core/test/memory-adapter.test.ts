import { delay, Scope } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { AdapterError, ConfigError } from '../src/index.js'
import { type Envelope, MemoryAdapter, MemoryDeduplicator } from '../src/server.js'

const scope = new Scope()
afterEach(() => scope.cleanup())

function adapter(...args: ConstructorParameters<typeof MemoryAdapter>): MemoryAdapter {
  return scope.add(new MemoryAdapter(...args), (a) => a.close())
}

const dispatch = (origin: string, frame = '{"op":0}'): Envelope => ({ kind: 'dispatch', origin, frame })

// What every adapter must do is in the adapter contract (memory-adapter-contract.test.ts); these are the
// memory adapter's own ways.
describe('MemoryAdapter', () => {
  it('delivers to every subscriber of another origin, in a later microtask', async () => {
    const a = adapter()
    const got: string[] = []
    await a.subscribe('s1', (e) => void got.push(`s1:${e.origin}`))
    await a.subscribe('s2', (e) => void got.push(`s2:${e.origin}`))
    await a.subscribe('s3', (e) => void got.push(`s3:${e.origin}`))
    const first = a.publish(dispatch('s1'))
    const second = a.publish({ kind: 'disconnect', origin: 'dispatcher', userIds: ['u'] })
    expect(got).toEqual([])
    await Promise.all([first, second])
    await delay(0)
    expect(got).toEqual(['s2:s1', 's3:s1', 's1:dispatcher', 's2:dispatcher', 's3:dispatcher'])
  })

  it('lets a listener publish without re-entering, and stops after unsubscribe', async () => {
    const a = adapter()
    const order: string[] = []
    await a.subscribe('echo', (e) => {
      order.push(`echo got ${e.origin}`)
      if (e.origin === 'x') void a.publish(dispatch('echo'))
      order.push('echo done')
    })
    const unsubscribe = await a.subscribe('x', (e) => void order.push(`x got ${e.origin}`))
    await a.publish(dispatch('x'))
    await delay(0)
    expect(order).toEqual(['echo got x', 'echo done', 'x got echo'])
    await unsubscribe()
    await a.publish(dispatch('echo'))
    await delay(0)
    expect(order).toHaveLength(3)
  })

  it('shares presence, store and portal, with options passed through', async () => {
    let now = 5000
    const a = adapter({ namespace: 'ns', retention: { maxEntries: 2 }, portal: { maxPending: 1 }, now: () => now })
    expect(a.namespace).toBe('ns')
    await a.presence.join('u', 's')
    expect(await a.presence.areOnline(['u'])).toEqual([true])
    for (let i = 0; i < 5; i++) await a.store.append('user:u', { frame: String(i) })
    expect(a.store.size('user:u')).toBe(2)
    now += 10
    const entry = await a.store.append('user:u', { frame: 'x' })
    const read = await a.store.readAfter('user:u', { epoch: entry.epoch, seq: 5 })
    expect(read.status === 'ok' && read.entries[0]!.time).toBe(5010)
    await a.portal.push({ kind: 'connection', clientId: 'c', serverId: 's', time: 1 })
    await expect(a.portal.push({ kind: 'connection', clientId: 'd', serverId: 's', time: 1 })).rejects.toThrow(
      /maxPending/,
    )
    expect(adapter().namespace).toBe('default')
  })

  it('closes idempotently and rejects publish and subscribe afterwards', async () => {
    const a = adapter()
    let got = 0
    await a.subscribe('s', () => got++)
    const published = a.publish(dispatch('o'))
    const closing = a.close()
    await Promise.all([published, closing, a.close()])
    await delay(0)
    expect(got).toBe(0)
    await expect(a.publish(dispatch('o'))).rejects.toBeInstanceOf(AdapterError)
    await expect(a.subscribe('s', () => {})).rejects.toBeInstanceOf(AdapterError)
  })
})

describe('MemoryDeduplicator', () => {
  it('holds at most maxClaims: the done claims changed longest ago are forgotten first, a claim being handled stays', async () => {
    const dedupe = new MemoryDeduplicator(Date.now, { maxClaims: 3 })
    expect(await dedupe.begin('handling', 60_000)).toBe('new')
    for (const key of ['a', 'b', 'c']) {
      expect(await dedupe.begin(key, 60_000)).toBe('new')
      await dedupe.complete(key, 60_000)
    }
    // c's claim went beyond the bound: a, the oldest done claim, was forgotten; the claim being handled was not.
    expect([dedupe.size, dedupe.evicted]).toEqual([3, 1])
    expect(await dedupe.begin('handling', 60_000)).toBe('busy')
    expect(await dedupe.begin('b', 60_000)).toBe('done')
    expect(await dedupe.begin('c', 60_000)).toBe('done')
    expect(await dedupe.begin('a', 60_000)).toBe('new')
    expect([dedupe.size, dedupe.evicted]).toEqual([3, 2])
    expect(await dedupe.begin('b', 60_000)).toBe('new')
  })

  it('forgets lapsed claims first, and does not count them as forgotten early', async () => {
    let now = 0
    const dedupe = new MemoryDeduplicator(() => now, { maxClaims: 2 })
    await dedupe.begin('lapsed', 1000)
    await dedupe.complete('lapsed', 1000)
    await dedupe.begin('dead server', 1000)
    now = 5000
    expect(await dedupe.begin('new', 60_000)).toBe('new')
    expect(await dedupe.begin('newer', 60_000)).toBe('new')
    expect([dedupe.size, dedupe.evicted]).toEqual([2, 0])
  })

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new MemoryDeduplicator(Date.now, { maxClaims: 0 })).toThrow(ConfigError)
    expect(() => new MemoryAdapter({ dedupe: { maxClaims: 1.5 } })).toThrow(/dedupe\.maxClaims/)
  })
})

