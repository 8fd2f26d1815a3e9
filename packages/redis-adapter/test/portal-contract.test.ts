import { type Adapter, MemoryAdapter, type PortalEvent, PortalQueueFullError } from '@mesa/core'
import { afterEach, describe, expect, it } from 'vitest'
import { waitFor } from '../../../test/integration/harness/wait.js'
import { TestScope } from './support/scope.js'

const scope = new TestScope()
const memories: MemoryAdapter[] = []
afterEach(async () => {
  await Promise.all(memories.splice(0).map((m) => m.close()))
  await scope.cleanup()
})

/** The bounds a queue is created with; default: 20 events, and the default bytes. */
interface Bounds {
  maxPending?: number
  maxPendingBytes?: number
}

/** The same scenarios against both portal queues, through the `Adapter` interface the Portal uses. */
const adapters: [string, (bounds?: Bounds) => Adapter][] = [
  [
    'MemoryPortalQueue',
    (bounds = { maxPending: 20 }) => {
      const adapter = new MemoryAdapter({ portal: { ...bounds, retryDelayMs: 10, claimTimeoutMs: 300 } })
      memories.push(adapter)
      return adapter
    },
  ],
  [
    'RedisPortalQueue',
    (bounds = { maxPending: 20 }) =>
      scope.adapter({ portal: { ...bounds, claimIntervalMs: 20, blockMs: 100, claimTimeoutMs: 300 } }),
  ],
]

const event = (n: number): PortalEvent => ({ kind: 'connection', clientId: `c${n}`, serverId: 's', time: n })

describe.each(adapters)('PortalQueue contract: %s', (_name, create) => {
  it('holds events until a portal comes, then gives each to one portal and every event to observers', async () => {
    const { portal } = create()
    for (let i = 0; i < 20; i++) await portal.push(event(i))
    await expect(portal.push(event(20))).rejects.toBeInstanceOf(PortalQueueFullError)
    const handled: string[] = []
    const observed: string[] = []
    await portal.consume({ consumerId: 'watch', reportAllEvents: true }, (e) => void observed.push(e.clientId))
    await portal.consume({ consumerId: 'one' }, (e) => void handled.push(e.clientId))
    await portal.consume({ consumerId: 'two' }, (e) => void handled.push(e.clientId))
    await waitFor('the backlog', () => handled.length === 20)
    // Handled events stop counting once acknowledged, which Redis learns a moment after the handler resolved.
    await waitFor('room in the queue', () => portal.push(event(100)).then(() => true, () => false))
    for (let i = 101; i < 110; i++) await portal.push(event(i))
    await waitFor('new events', () => handled.length === 30 && observed.length === 10)
    expect(new Set(handled).size).toBe(30)
    expect(observed).toEqual(Array.from({ length: 10 }, (_, i) => `c${100 + i}`))
  })

  it('tells its depth: events waiting for a portal or being handled, not those handled or only observed', async () => {
    const { portal } = create()
    expect(await portal.pending?.()).toBe(0)
    for (let i = 0; i < 3; i++) await portal.push(event(i))
    await portal.consume({ consumerId: 'watch', reportAllEvents: true }, () => {})
    expect(await portal.pending?.()).toBe(3)
    const taken: string[] = []
    const release: (() => void)[] = []
    await portal.consume({ consumerId: 'slow' }, (e) => {
      taken.push(e.clientId)
      return new Promise<void>((resolve) => release.push(resolve))
    })
    await waitFor('all taken', () => taken.length === 3)
    // Being handled still counts.
    expect(await portal.pending?.()).toBe(3)
    for (const done of release) done()
    await waitFor('the depth to fall to 0', async () => (await portal.pending?.()) === 0)
  })

  it('retries rejected events and events of a portal that closed or hung', async () => {
    const { portal } = create()
    const attempts: string[] = []
    const hanging = await portal.consume({ consumerId: 'hangs' }, (e) => {
      attempts.push(`hangs:${e.clientId}`)
      return new Promise<void>(() => {})
    })
    await portal.push(event(1))
    await waitFor('taken', () => attempts.length === 1)
    await hanging.close()
    let failures = 0
    await portal.consume({ consumerId: 'flaky' }, (e) => {
      attempts.push(`flaky:${e.clientId}`)
      if (failures++ < 2) throw new Error('not now')
    })
    await portal.push(event(2))
    await waitFor('both handled', () => attempts.filter((a) => a.startsWith('flaky')).length >= 4)
    const succeeded = attempts.filter((a) => a.startsWith('flaky')).slice(2)
    expect(succeeded.sort()).toEqual(['flaky:c1', 'flaky:c2'])
  })

  it('bounds the bytes of unhandled events by maxPendingBytes (each event as its JSON in UTF-8)', async () => {
    const accented: PortalEvent = { kind: 'connection', clientId: 'é😀', serverId: 's', time: 0 }
    const size = JSON.stringify(event(1)).length
    // Two bytes for 'é' and four for '😀', where the string has three characters for them.
    const accentedSize = JSON.stringify(accented).length + 3
    const { portal } = create({ maxPendingBytes: size * 2 + accentedSize })
    await portal.push(event(1))
    await portal.push(accented)
    await portal.push(event(2))
    const full = await portal.push(event(3)).catch((e: unknown) => e)
    expect(full).toBeInstanceOf(PortalQueueFullError)
    expect(full).toMatchObject({ bound: 'maxPendingBytes', limit: size * 2 + accentedSize })
    await expect(
      portal.push({ kind: 'connection', clientId: 'x'.repeat(size * 3), serverId: 's', time: 0 }),
    ).rejects.toMatchObject({ bound: 'maxPendingBytes' })
    const handled: string[] = []
    await portal.consume({ consumerId: 'one' }, (e) => void handled.push(e.clientId))
    await waitFor('the backlog', () => handled.length === 3)
    // Handled events stop counting once acknowledged, which Redis learns a moment after the handler resolved.
    await waitFor('room in the queue', () => portal.push(event(3)).then(() => true, () => false))
    await waitFor('the new event', () => handled.length === 4)
    expect(handled).toEqual(['c1', 'é😀', 'c2', 'c3'])
  })
})
