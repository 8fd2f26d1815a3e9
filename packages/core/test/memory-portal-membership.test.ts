import { delay } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { AdapterError, ConfigError, MemoryAdapter, MemoryPortalQueue, type PortalMembershipEvent } from '../src/index.js'

const queues: MemoryPortalQueue[] = []
function queue(): MemoryPortalQueue {
  const q = new MemoryPortalQueue()
  queues.push(q)
  return q
}

afterEach(() => {
  for (const q of queues.splice(0)) q.close()
})

function recorder(): { events: string[]; listener: (event: PortalMembershipEvent) => void } {
  const events: string[] = []
  return { events, listener: (event) => void events.push(`${event.kind} ${event.portalId}`) }
}

describe('MemoryPortalQueue membership', () => {
  it('reports current members before watchMembers resolves, then each join and leave in order', async () => {
    const q = queue()
    const a = await q.consume({ consumerId: 'a' }, () => {})
    const observer = await q.consume({ consumerId: 'watcher-of-all', reportAllEvents: true }, () => {})
    const { events, listener } = recorder()
    const unwatch = await q.watchMembers(listener)
    expect(events).toEqual(['join a', 'join watcher-of-all'])

    const b = await q.consume({ consumerId: 'b' }, () => {})
    await a.close()
    await a.close()
    await observer.close()
    await delay(0)
    expect(events).toEqual(['join a', 'join watcher-of-all', 'join b', 'leave a', 'leave watcher-of-all'])

    await unwatch()
    await b.close()
    await delay(0)
    expect(events).toHaveLength(5)
  })

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

  it('tells every watcher of a shared adapter, and a throwing listener stops none of the others', async () => {
    const adapter = new MemoryAdapter()
    try {
      const thrower = { calls: 0 }
      await adapter.portal.watchMembers(() => {
        thrower.calls++
        throw new Error('hook failed')
      })
      const server1 = recorder()
      const server2 = recorder()
      await adapter.portal.watchMembers(server1.listener)
      await adapter.portal.watchMembers(server2.listener)
      const consumer = await adapter.portal.consume({ consumerId: 'portal-1' }, () => {})
      await consumer.close()
      await delay(0)
      expect(thrower.calls).toBe(2)
      expect(server1.events).toEqual(['join portal-1', 'leave portal-1'])
      expect(server2.events).toEqual(server1.events)
    } finally {
      await adapter.close()
    }
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
