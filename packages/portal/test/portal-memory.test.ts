import { ConfigError } from '@mesa/core'
import { MemoryAdapter, type PortalEvent } from '@mesa/core/server'
import { delay, Scope, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { Portal, type PortalDelivery, PortalHandlerError } from '../src/index.js'
import { loadRedisAdapter } from '../src/resolve-adapter.js'

type ChatMap = { NEW_MESSAGE: { content: string }; TYPING: { typing: boolean } }

const scope = new Scope()
afterEach(() => scope.cleanup())

function adapter(): MemoryAdapter {
  const created = new MemoryAdapter({ portal: { retryDelayMs: 5, claimTimeoutMs: 60_000 } })
  scope.defer(() => created.close())
  return created
}

function portal(...args: ConstructorParameters<typeof Portal<ChatMap>>): Portal<ChatMap> {
  const created = new Portal<ChatMap>(...args)
  scope.defer(() => created.close())
  return created
}

function messageEvent(n: number): PortalEvent {
  return {
    kind: 'message',
    clientId: `c${n}`,
    serverId: 's1',
    userId: `u${n}`,
    frame: { op: 0, d: { content: `hello ${n}` }, t: 'NEW_MESSAGE' },
    time: 1000 + n,
  }
}

describe('Portal with the memory adapter', () => {
  it('emits each kind of event with typed arguments and hands the same to the handler', async () => {
    const shared = adapter()
    const deliveries: PortalDelivery<ChatMap>[] = []
    const seen: string[] = []
    const p = portal(shared, { handler: (delivery) => void deliveries.push(delivery) })
    p.on('connection', (clientId, info) => seen.push(`connection ${clientId} ${info.serverId}`))
    p.on('authentication', (userId, clientId) => seen.push(`authentication ${userId} ${clientId}`))
    p.on('message', (message, userId, clientId) => {
      if (message.type === 'NEW_MESSAGE') seen.push(`message ${message.data.content} ${userId} ${clientId}`)
    })
    p.on('disconnection', (userId, clientId) => seen.push(`disconnection ${userId} ${clientId}`))
    await p.whenReady()
    expect(p.isReady).toBe(true)

    await shared.portal.push({ kind: 'connection', clientId: 'c1', serverId: 's1', time: 1 })
    await shared.portal.push({ kind: 'authentication', clientId: 'c1', serverId: 's1', userId: 'u1', time: 2 })
    await shared.portal.push(messageEvent(1))
    await shared.portal.push({ kind: 'disconnection', clientId: 'c1', serverId: 's1', userId: 'u1', time: 4 })
    await waitFor('four events', () => deliveries.length === 4)

    expect(seen).toEqual(['connection c1 s1', 'authentication u1 c1', 'message hello 1 u1 c1', 'disconnection u1 c1'])
    const message = deliveries[2]
    expect(message?.kind).toBe('message')
    if (message?.kind !== 'message') return
    expect(message.message.opcode).toBe(0)
    expect(message.message.data).toEqual({ content: 'hello 1' })
    expect(message.time).toBe(1001)
    await waitFor('the last acknowledgement', () => shared.portal.inFlightCount === 0)
    expect(shared.portal.pendingCount).toBe(0)
  })

  it('gives each event to exactly one of two portals, and every event to a reportAllEvents portal', async () => {
    const shared = adapter()
    const byPortal = new Map<string, string[]>()
    const observed: string[] = []
    for (const id of ['a', 'b']) {
      const got: string[] = []
      byPortal.set(id, got)
      const p = portal(shared, { id })
      p.on('message', (_message, _userId, clientId) => got.push(clientId))
      await p.whenReady()
    }
    const observer = portal(shared, { id: 'observer', reportAllEvents: true })
    observer.on('message', (_message, _userId, clientId) => observed.push(clientId))
    await observer.whenReady()

    const total = 20
    for (let n = 0; n < total; n++) await shared.portal.push(messageEvent(n))
    const handled = () => [...byPortal.values()].flat()
    await waitFor('every event handled', () => handled().length === total && observed.length === total)

    const expected = Array.from({ length: total }, (_, n) => `c${n}`)
    expect(handled().sort()).toEqual([...expected].sort())
    expect(new Set(handled()).size).toBe(total)
    expect(byPortal.get('a')!.length).toBeGreaterThan(0)
    expect(byPortal.get('b')!.length).toBeGreaterThan(0)
    expect([...observed].sort()).toEqual([...expected].sort())
  })

  it('leaves an event for redelivery when a listener throws, and reports it', async () => {
    const shared = adapter()
    const p = portal(shared)
    const errors: Error[] = []
    p.on('error', (error) => errors.push(error))
    let attempts = 0
    const handled: string[] = []
    p.on('message', (_message, _userId, clientId) => {
      attempts++
      if (attempts < 3) throw new Error('database unavailable')
      handled.push(clientId)
    })
    await p.whenReady()
    await shared.portal.push(messageEvent(7))
    await waitFor('the third attempt', () => handled.length === 1)

    expect(handled).toEqual(['c7'])
    expect(attempts).toBe(3)
    expect(errors).toHaveLength(2)
    expect(errors[0]).toBeInstanceOf(PortalHandlerError)
    expect((errors[0] as PortalHandlerError).event.clientId).toBe('c7')
    expect((errors[0]!.cause as Error).message).toBe('database unavailable')
    await waitFor('the queue to settle', () => shared.portal.inFlightCount === 0)
    expect(shared.portal.pendingCount).toBe(0)
  })

  it('acknowledges only when the async handler resolves; a rejection sends the event to another portal', async () => {
    const shared = adapter()
    const handledBy: string[] = []
    const failing = portal(shared, {
      id: 'failing',
      handler: async () => {
        throw new Error('cannot handle')
      },
    })
    const failures: Error[] = []
    failing.on('error', (error) => failures.push(error))
    await failing.whenReady()
    await shared.portal.push(messageEvent(1))
    await waitFor('a failed attempt', () => failures.length > 0)
    expect(failures[0]).toBeInstanceOf(PortalHandlerError)

    const healthy = portal(shared, {
      id: 'healthy',
      handler: async (delivery) => {
        await delay(5)
        handledBy.push(delivery.clientId)
      },
    })
    await healthy.whenReady()
    await waitFor('the healthy portal to handle it', () => handledBy.length === 1)
    expect(handledBy).toEqual(['c1'])
  })

  it('acknowledges only once async listeners resolved, and redelivers when one rejects', async () => {
    const shared = adapter()
    const p = portal(shared)
    const errors: Error[] = []
    p.on('error', (error) => errors.push(error))
    let attempts = 0
    let finish: () => void = () => {}
    const saved: string[] = []
    p.on('message', async (_message, _userId, clientId) => {
      attempts++
      if (attempts === 1) throw new Error('write failed')
      await new Promise<void>((resolve) => {
        finish = resolve
      })
      saved.push(clientId)
    })
    await p.whenReady()
    await shared.portal.push(messageEvent(4))
    await waitFor('the second attempt to be under way', () => attempts === 2)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(PortalHandlerError)
    // Not acknowledged while the async listener runs.
    expect(shared.portal.inFlightCount).toBe(1)
    finish()
    await waitFor('the acknowledgement', () => shared.portal.inFlightCount === 0)
    expect(saved).toEqual(['c4'])
    expect(shared.portal.pendingCount).toBe(0)
  })

  it('awaits async once-listeners, and off() removes async listeners', async () => {
    const shared = adapter()
    const p = portal(shared)
    const calls: string[] = []
    let release: () => void = () => {}
    p.once('message', (_message, _userId, clientId) => {
      calls.push(`once ${clientId}`)
      return new Promise<void>((resolve) => {
        release = resolve
      })
    })
    const removed = async () => {
      calls.push('removed')
    }
    p.on('message', removed)
    p.off('message', removed)
    await p.whenReady()
    await shared.portal.push(messageEvent(1))
    await waitFor('the once-listener', () => calls.length === 1)
    expect(shared.portal.inFlightCount).toBe(1)
    release()
    await waitFor('the acknowledgement', () => shared.portal.inFlightCount === 0)
    await shared.portal.push(messageEvent(2))
    await waitFor(
      'the second event to be handled',
      () => shared.portal.inFlightCount === 0 && shared.portal.pendingCount === 0,
    )
    expect(calls).toEqual(['once c1'])
  })

  it('reports a rejection of an async listener of ready through error instead of an unhandled rejection', async () => {
    const shared = adapter()
    const p = portal(shared)
    const errors: Error[] = []
    p.on('error', (error) => errors.push(error))
    p.on('ready', async () => {
      throw new Error('startup hook failed')
    })
    await p.whenReady()
    await waitFor('the reported rejection', () => errors.length === 1)
    expect(errors[0]?.message).toBe('startup hook failed')
  })

  it('gives an event to another portal when the one handling it closes mid-event', async () => {
    const shared = adapter()
    let release: () => void = () => {}
    const firstStarted: string[] = []
    const first = portal(shared, {
      id: 'first',
      handler: (delivery) => {
        firstStarted.push(delivery.clientId)
        return new Promise<void>((resolve) => {
          release = resolve
        })
      },
    })
    await first.whenReady()
    await shared.portal.push(messageEvent(3))
    await waitFor('the first portal to take it', () => firstStarted.length === 1)

    const secondGot: string[] = []
    const second = portal(shared, { id: 'second' })
    second.on('message', (_message, _userId, clientId) => secondGot.push(clientId))
    await second.whenReady()
    expect(secondGot).toEqual([])

    await first.close()
    await waitFor('the second portal to get it', () => secondGot.length === 1)
    release()
    expect(secondGot).toEqual(['c3'])
    expect(first.isReady).toBe(false)
  })

  it('keeps events while no portal runs and delivers them when one starts', async () => {
    const shared = adapter()
    for (let n = 0; n < 5; n++) await shared.portal.push(messageEvent(n))
    expect(shared.portal.pendingCount).toBe(5)

    const got: string[] = []
    const late = portal(shared)
    late.on('message', (_message, _userId, clientId) => got.push(clientId))
    await waitFor('the waiting events', () => got.length === 5)
    expect(got).toEqual(['c0', 'c1', 'c2', 'c3', 'c4'])
  })

  it('takes no events after close(), and close() is idempotent', async () => {
    const shared = adapter()
    const p = portal(shared)
    await p.whenReady()
    await Promise.all([p.close(), p.close()])
    const got: string[] = []
    p.on('message', (_message, _userId, clientId) => got.push(clientId))
    await shared.portal.push(messageEvent(1))
    await delay(20)
    expect(got).toEqual([])
    expect(shared.portal.pendingCount).toBe(1)
  })

  it('can be closed before it is ready', async () => {
    const shared = adapter()
    const p = new Portal(shared)
    const closing = p.close()
    await expect(p.whenReady()).rejects.toThrow('the portal is closed')
    await closing
    await shared.portal.push(messageEvent(1))
    expect(shared.portal.pendingCount).toBe(1)
  })

  it('rejects bad arguments with a ConfigError', () => {
    const shared = adapter()
    expect(() => new Portal(42 as unknown as string)).toThrow(ConfigError)
    expect(() => new Portal([] as unknown as string)).toThrow(ConfigError)
    expect(() => new Portal('')).toThrow(ConfigError)
    expect(() => new Portal(shared, { namespace: 'other' })).toThrow(/differs from the adapter's namespace "default"/)
    expect(() => new Portal(shared, { id: '' })).toThrow(ConfigError)
    expect(() => new Portal(shared, null as never)).toThrow('options must be an object')
    expect(() => new Portal(shared, { reportAllEvents: 'yes' as never })).toThrow(ConfigError)
    expect(() => new Portal(shared, { handler: 'nope' as never })).toThrow(ConfigError)
  })

  it('names the package to install when a URL is given without @mesa/redis-adapter', async () => {
    const missing = '@mesa/redis-adapter-that-is-not-installed'
    const failure = loadRedisAdapter('redis://127.0.0.1:6379', undefined, missing)
    await expect(failure).rejects.toBeInstanceOf(ConfigError)
    await expect(failure).rejects.toThrow(`needs the optional package ${missing}`)
  })
})
