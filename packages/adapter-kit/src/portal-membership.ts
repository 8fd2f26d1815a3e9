import type { Adapter, PortalMembershipEvent } from '@mesa/core/server'
import { expect } from 'vitest'
import type { ContractTest } from './contract-test.js'

/** What a listener was told, as `join <id>` / `leave <id>`, and the function that stops the reports. */
async function watch(adapter: Adapter): Promise<{ events: string[]; stop: () => Promise<void> }> {
  const events: string[] = []
  const record = (event: PortalMembershipEvent) => void events.push(`${event.kind} ${event.portalId}`)
  return { events, stop: await adapter.portal.watchMembers(record) }
}

/** `portal.watchMembers`: which portals consume, reported to every server (`onPortalJoin`, `onPortalLeave`). */
export function portalMembershipContract(test: ContractTest): void {
  test('reports the current members as joins before watchMembers resolves, then each join and leave in order, everywhere', async (t) => {
    const [server, portals] = await t.pair()
    const early = await watch(server)
    expect(early.events).toEqual([])
    const worker = await portals.portal.consume({ consumerId: 'worker' }, () => {})
    const observer = await portals.portal.consume({ consumerId: 'observer', reportAllEvents: true }, () => {})
    await t.until('both joins', () => early.events.length === 2)
    expect(early.events).toEqual(['join worker', 'join observer'])

    // A late watcher, on another adapter: the current members come before the promise resolves.
    const late = await watch(portals)
    expect([...late.events].sort()).toEqual(['join observer', 'join worker'])

    // A second close reports nothing more.
    await worker.close()
    await worker.close()
    await t.until('the leave, on both', () => early.events.length === 3 && late.events.length === 3)
    expect(early.events[2]).toBe('leave worker')
    expect(late.events[2]).toBe('leave worker')

    // A watch stopped hears nothing more; the others go on. A portal that comes back joins again.
    await late.stop()
    await observer.close()
    const back = await portals.portal.consume({ consumerId: 'worker' }, () => {})
    await t.until('the observer to leave and the worker to join again', () => early.events.length === 5)
    expect(early.events.slice(3)).toEqual(['leave observer', 'join worker'])
    await back.close()
    await t.until('the last leave', () => early.events.length === 6)
    expect(late.events).toHaveLength(3)
    await early.stop()
  })

  test('goes on telling every listener when one throws', async (t) => {
    const [server, portals] = await t.pair()
    // The adapter may report what the listener threw as an `error` event.
    server.on('error', () => {})
    let thrown = 0
    await server.portal.watchMembers(() => {
      thrown++
      throw new Error('hook failed')
    })
    const { events } = await watch(server)
    const consumer = await portals.portal.consume({ consumerId: 'p' }, () => {})
    await t.until('the join', () => events.length === 1)
    await consumer.close()
    await t.until('the leave, to both listeners', () => events.length === 2 && thrown === 2)
    expect(events).toEqual(['join p', 'leave p'])
  })
}
