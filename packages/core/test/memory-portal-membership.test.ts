import { delay, Scope } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { AdapterError, ConfigError } from '../src/index.js'
import { MemoryPortalQueue, type PortalMembershipEvent } from '../src/server.js'

const scope = new Scope()
afterEach(() => scope.cleanup())

function queue(): MemoryPortalQueue {
  return scope.add(new MemoryPortalQueue(), (q) => q.close())
}

function recorder(): { events: string[]; listener: (event: PortalMembershipEvent) => void } {
  const events: string[] = []
  return { events, listener: (event) => void events.push(`${event.kind} ${event.portalId}`) }
}

// What every queue must report is in the adapter contract (memory-adapter-contract.test.ts); these are the
// memory queue's own ways: announcements in microtasks, checks of its arguments.
describe('MemoryPortalQueue membership', () => {
  it('never calls a listener inside consume() or close(), and keeps one registered later free of duplicates', async () => {
    const q = queue()
    const first = recorder()
    await q.watchMembers(first.listener)
    const consuming = q.consume({ consumerId: 'p' }, () => {})
    expect(first.events).toEqual([])
    // Registered after the join but before its announcement ran: the snapshot has it, the announcement must not repeat it.
    const second = recorder()
    const watching = q.watchMembers(second.listener)
    const consumer = await consuming
    await watching
    await consumer.close()
    await delay(0)
    expect(first.events).toEqual(['join p', 'leave p'])
    expect(second.events).toEqual(['join p', 'leave p'])
  })

  it('rejects a listener that is not a function, and watching a closed queue', async () => {
    const q = queue()
    await expect(q.watchMembers('nope' as never)).rejects.toBeInstanceOf(ConfigError)
    const { events, listener } = recorder()
    await q.watchMembers(listener)
    await q.consume({ consumerId: 'x' }, () => {})
    q.close()
    await delay(0)
    // Closing the queue ends the watch: no leave is reported for consumers dropped with it.
    expect(events).toEqual(['join x'])
    await expect(q.watchMembers(listener)).rejects.toBeInstanceOf(AdapterError)
  })
})
