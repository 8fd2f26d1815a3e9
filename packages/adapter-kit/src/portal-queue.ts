import { PortalQueueFullError } from '@mesa/core'
import type { PortalEvent } from '@mesa/core/server'
import { expect } from 'vitest'
import type { ContractTest } from './contract-test.js'

const event = (n: number): PortalEvent => ({ kind: 'connection', clientId: `c${n}`, serverId: 's', time: n })

/** `portal`: client events to portals, load-balanced and at least once. */
export function portalQueueContract(test: ContractTest): void {
  test('delivers each kind of event as pushed, never inside push()', async (t) => {
    const { portal } = await t.adapter()
    const got: PortalEvent[] = []
    await portal.consume({ consumerId: 'p' }, (e) => void got.push(e))
    const events: PortalEvent[] = [
      { kind: 'connection', clientId: 'c1', serverId: 's1', time: 1 },
      { kind: 'authentication', clientId: 'c1', serverId: 's1', userId: 'u1', time: 2 },
      {
        kind: 'message',
        clientId: 'c1',
        serverId: 's1',
        userId: 'u1',
        frame: { op: 0, d: { text: 'héllo', list: [1, { deep: true }] }, t: 'SAY' },
        time: 3,
      },
      { kind: 'message', clientId: 'c2', serverId: 's1', frame: { op: 0, d: {} }, time: 4 },
      { kind: 'disconnection', clientId: 'c1', serverId: 's1', userId: 'u1', time: 5 },
      { kind: 'disconnection', clientId: 'c2', serverId: 's1', time: 6 },
    ]
    for (const e of events) {
      const pushed = portal.push(e)
      expect(got).not.toContainEqual(e)
      await pushed
    }
    await t.until('every event', () => got.length === events.length)
    expect([...got].sort((x, y) => x.time - y.time)).toEqual(events)
  })

  test('holds events until a portal comes, rejects beyond maxPending, and gives every event to observers', async (t) => {
    const [server, portals] = await t.pair({ portal: { maxPending: 20 } })
    for (let i = 0; i < 20; i++) await server.portal.push(event(i))
    await expect(server.portal.push(event(20))).rejects.toBeInstanceOf(PortalQueueFullError)
    const handled: string[] = []
    const observed: string[] = []
    await portals.portal.consume({ consumerId: 'watch', reportAllEvents: true }, (e) => void observed.push(e.clientId))
    await portals.portal.consume({ consumerId: 'one' }, (e) => void handled.push(e.clientId))
    await portals.portal.consume({ consumerId: 'two' }, (e) => void handled.push(e.clientId))
    await t.until('the backlog', () => handled.length === 20)
    // Handled events stop counting once acknowledged, which a shared backend learns a moment after the handler.
    await t.until('room in the queue', () => server.portal.push(event(100)).then(() => true, () => false))
    for (let i = 101; i < 110; i++) await server.portal.push(event(i))
    await t.until('the new events', () => handled.length === 30 && observed.length === 10)
    expect(new Set(handled).size).toBe(30)
    // Observers get what is pushed while they watch, in order; they take no share of the handling.
    expect(observed).toEqual(Array.from({ length: 10 }, (_, i) => `c${100 + i}`))
  })

  test('bounds the bytes of unhandled events by maxPendingBytes, each event as its JSON in UTF-8', async (t) => {
    const accented: PortalEvent = { kind: 'connection', clientId: 'é😀', serverId: 's', time: 0 }
    const size = JSON.stringify(event(1)).length
    // Two bytes for 'é' and four for '😀', where the string has three UTF-16 code units for them.
    const accentedSize = JSON.stringify(accented).length + 3
    const bound = size * 2 + accentedSize
    const [server, portals] = await t.pair({ portal: { maxPendingBytes: bound } })
    await server.portal.push(event(1))
    await server.portal.push(accented)
    await server.portal.push(event(2))
    const full = await server.portal.push(event(3)).catch((e: unknown) => e)
    expect(full).toBeInstanceOf(PortalQueueFullError)
    expect(full).toMatchObject({ bound: 'maxPendingBytes', limit: bound })
    // An event larger than the whole bound never fits.
    await expect(server.portal.push({ ...event(4), clientId: 'x'.repeat(size * 3) })).rejects.toMatchObject({
      bound: 'maxPendingBytes',
    })
    const handled: string[] = []
    await portals.portal.consume({ consumerId: 'one' }, (e) => void handled.push(e.clientId))
    await t.until('the backlog', () => handled.length === 3)
    // Handled events stop counting once acknowledged, which a shared backend learns a moment after the handler.
    await t.until('room in the queue', () => server.portal.push(event(3)).then(() => true, () => false))
    await t.until('the new event', () => handled.length === 4)
    expect(handled).toEqual(['c1', 'é😀', 'c2', 'c3'])
  })

  test('tells its depth (pending, when the queue has it): events waiting or being handled, not handled or only observed', async (t, skip) => {
    const [server, portals] = await t.pair()
    const { portal } = server
    const depth = portal.pending?.bind(portal)
    if (!depth) return skip('the queue has no pending')
    expect(await depth()).toBe(0)
    for (let i = 0; i < 3; i++) await portal.push(event(i))
    await portals.portal.consume({ consumerId: 'watch', reportAllEvents: true }, () => {})
    expect(await depth()).toBe(3)
    const taken: string[] = []
    const release: (() => void)[] = []
    await portals.portal.consume({ consumerId: 'slow' }, (e) => {
      taken.push(e.clientId)
      return new Promise<void>((resolve) => release.push(resolve))
    })
    await t.until('every event taken', () => taken.length === 3)
    // Being handled still counts, on every adapter of the namespace.
    expect(await depth()).toBe(3)
    for (const done of release) done()
    await t.until('the depth to fall to 0', async () => (await depth()) === 0)
  })

  test('gives each event to one portal, spreading the events over the portals of every adapter', async (t) => {
    const namespace = t.namespace()
    const server = await t.adapter({ namespace })
    const one = t.singleProcess ? server : await t.adapter({ namespace })
    const two = t.singleProcess ? server : await t.adapter({ namespace })
    const byPortal: Record<string, string[]> = { one: [], two: [] }
    await one.portal.consume({ consumerId: 'one' }, (e) => void byPortal.one!.push(e.clientId))
    await two.portal.consume({ consumerId: 'two' }, (e) => void byPortal.two!.push(e.clientId))
    for (let i = 0; i < 200; i++) await server.portal.push(event(i))
    await t.until('every event', () => byPortal.one!.length + byPortal.two!.length >= 200)
    // A marker after them: an event given twice would most likely have come again before it.
    await server.portal.push(event(999))
    await t.until('the marker', () => [...byPortal.one!, ...byPortal.two!].includes('c999'))
    const all = [...byPortal.one!, ...byPortal.two!].filter((c) => c !== 'c999')
    expect(all).toHaveLength(200)
    expect(new Set(all).size).toBe(200)
    expect(byPortal.one!.length).toBeGreaterThan(0)
    expect(byPortal.two!.length).toBeGreaterThan(0)
  })

  test('retries an event whose handler threw or rejected, on another portal when one takes it', async (t) => {
    const [server, portals] = await t.pair()
    const attempts: string[] = []
    let failures = 0
    await portals.portal.consume({ consumerId: 'flaky' }, (e) => {
      attempts.push(`flaky:${e.clientId}`)
      if (failures++ % 2 === 0) throw new Error('not now')
      return Promise.reject(new Error('still not'))
    })
    await server.portal.push(event(1))
    await t.until('two failed attempts', () => attempts.length >= 2)
    await server.portal.consume({ consumerId: 'steady' }, (e) => void attempts.push(`steady:${e.clientId}`))
    await t.until('the retry on the steady portal', () => attempts.includes('steady:c1'))
    expect(attempts.every((a) => a.endsWith(':c1'))).toBe(true)
  })

  test('gives the unfinished events of a portal that closes to another', async (t) => {
    const [server, portals] = await t.pair()
    let taken = 0
    const leaving = await portals.portal.consume({ consumerId: 'leaving' }, () => {
      taken++
      return new Promise<void>(() => {})
    })
    await server.portal.push(event(1))
    await t.until('the event to be taken', () => taken === 1)
    await leaving.close()
    const handled: string[] = []
    await server.portal.consume({ consumerId: 'other' }, (e) => void handled.push(e.clientId))
    await t.until('the handover', () => handled.length === 1)
    expect(handled).toEqual(['c1'])
  })

  test('gives an event whose handler hangs to another portal after claimTimeoutMs', async (t) => {
    const [server, portals] = await t.pair({ portal: { claimTimeoutMs: 300 } })
    const attempts: string[] = []
    await portals.portal.consume({ consumerId: 'stuck' }, (e) => {
      attempts.push(`stuck:${e.clientId}`)
      return new Promise<void>(() => {})
    })
    await server.portal.push(event(1))
    await t.until('the stuck portal to take it', () => attempts.length === 1)
    await server.portal.consume({ consumerId: 'ok' }, (e) => void attempts.push(`ok:${e.clientId}`))
    await t.until('the retry', () => attempts.includes('ok:c1'))
    // Never back to the stuck portal, whose handler still runs it: claiming it back would start its timeout again.
    expect(attempts).toEqual(['stuck:c1', 'ok:c1'])
  })
}
