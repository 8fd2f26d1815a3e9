import { Scope, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import {
  ConfigError,
  MemoryPortalQueue,
  type MemoryPortalQueueOptions,
  type PortalEvent,
  PortalQueueFullError,
} from '../src/index.js'

function event(n: number): PortalEvent {
  return { kind: 'connection', clientId: `c${n}`, serverId: 'srv', time: n }
}

const scope = new Scope()
afterEach(() => scope.cleanup())

function queue(options?: MemoryPortalQueueOptions): MemoryPortalQueue {
  return scope.add(new MemoryPortalQueue(options), (q) => q.close())
}

// What every portal queue must do is in the adapter contract (memory-adapter-contract.test.ts); these are the
// memory queue's own ways: round robin, counts, retry delay.
describe('MemoryPortalQueue', () => {
  it('gives each event to exactly one consumer, round robin, asynchronously', async () => {
    const q = queue()
    const seen: Record<string, string[]> = { a: [], b: [], c: [] }
    for (const id of ['a', 'b', 'c']) await q.consume({ consumerId: id }, (e) => void seen[id]!.push(e.clientId))
    for (let i = 0; i < 9; i++) await q.push(event(i))
    await waitFor("q.pendingCount === 0 && q.inFlightCount === 0", () => q.pendingCount === 0 && q.inFlightCount === 0)
    const all = [...seen.a!, ...seen.b!, ...seen.c!].sort()
    expect(all).toEqual(Array.from({ length: 9 }, (_, i) => `c${i}`).sort())
    expect([seen.a!.length, seen.b!.length, seen.c!.length]).toEqual([3, 3, 3])
  })

  it('lets events wait for a consumer and rejects beyond maxPending', async () => {
    const q = queue({ maxPending: 3 })
    for (let i = 0; i < 3; i++) await q.push(event(i))
    const error = await q.push(event(3)).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PortalQueueFullError)
    expect((error as PortalQueueFullError).code).toBe('portal-queue-full')
    expect((error as Error).message).toMatch(/3 unhandled events/)
    const got: string[] = []
    await q.consume({ consumerId: 'late' }, (e) => void got.push(e.clientId))
    await waitFor("got.length === 3", () => got.length === 3)
    expect(got).toEqual(['c0', 'c1', 'c2'])
    await q.push(event(4))
    await waitFor("got.length === 4", () => got.length === 4)
  })

  it('counts events being handled against maxPending until they finish', async () => {
    const q = queue({ maxPending: 2 })
    const finishers: (() => void)[] = []
    await q.consume({ consumerId: 'slow' }, () => new Promise<void>((resolve) => finishers.push(resolve)))
    await q.push(event(1))
    await q.push(event(2))
    await waitFor("q.inFlightCount === 2", () => q.inFlightCount === 2)
    await expect(q.push(event(3))).rejects.toBeInstanceOf(PortalQueueFullError)
    finishers[0]!()
    await waitFor("q.inFlightCount === 1", () => q.inFlightCount === 1)
    await q.push(event(3))
  })

  it('bounds the bytes of unhandled events by maxPendingBytes, until they are handled', async () => {
    const size = JSON.stringify(event(1)).length
    const q = queue({ maxPendingBytes: size * 3 })
    for (let i = 1; i <= 3; i++) await q.push(event(i))
    expect(q.unhandledBytes).toBe(size * 3)
    const error = await q.push(event(4)).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PortalQueueFullError)
    expect(error).toMatchObject({ code: 'portal-queue-full', bound: 'maxPendingBytes', limit: size * 3 })
    expect((error as Error).message).toMatch(/maxPendingBytes/)
    // An event larger than the whole bound never fits.
    const big: PortalEvent = { ...event(5), clientId: 'x'.repeat(size * 3) }
    await expect(q.push(big)).rejects.toMatchObject({ bound: 'maxPendingBytes' })
    // Taken but unfinished, a failed one waiting for its retry: still counted; handled: not.
    const finishers: (() => void)[] = []
    let fail = true
    await q.consume({ consumerId: 'slow' }, () => {
      if (fail) {
        fail = false
        throw new Error('not now')
      }
      return new Promise<void>((resolve) => finishers.push(resolve))
    })
    await waitFor('both events taken', () => finishers.length === 2)
    expect(q.unhandledBytes).toBe(size * 3)
    await expect(q.push(event(6))).rejects.toBeInstanceOf(PortalQueueFullError)
    finishers[0]!()
    await waitFor('the handled event uncounted', () => q.unhandledBytes === size * 2)
    await q.push(event(7))
  })

  it('never gives an event back to a consumer still handling it: it waits for another, or for that handler', async () => {
    const q = queue({ claimTimeoutMs: 20, retryDelayMs: 1 })
    const calls: string[] = []
    const release: (() => void)[] = []
    const hang = (name: string) => (e: PortalEvent) => {
      calls.push(`${name}:${e.clientId}`)
      return new Promise<void>((resolve) => release.push(resolve))
    }
    await q.consume({ consumerId: 'first' }, hang('first'))
    await q.consume({ consumerId: 'second' }, hang('second'))
    await q.push(event(1))
    await waitFor('the second consumer to take it over', () => calls.length === 2)
    // Both handlers still run it: past the second claim timeout it waits rather than go back to the first.
    await waitFor('the second claim timeout, or a third delivery', () => q.inFlightCount === 0 || calls.length > 2)
    expect(calls).toEqual(['first:c1', 'second:c1'])
    expect(q.pendingCount).toBe(1)
    await q.consume({ consumerId: 'third' }, hang('third'))
    await waitFor('the third consumer to take it', () => calls.length === 3)
    expect(calls[2]).toBe('third:c1')
    // A handler finishing late finishes the event, wherever it is now.
    release[0]!()
    await waitFor('the event handled', () => q.unhandledBytes === 0)
    expect(q.pendingCount + q.inFlightCount).toBe(0)
    for (const done of release) done()
    await q.push(event(2))
    await waitFor('the next event', () => calls.length === 4)
    expect(calls[3]).toBe('first:c2')
    expect(q.unhandledBytes).toBe(JSON.stringify(event(2)).length)
  })

  it('lets an event wait for its one consumer whose handler hangs, and finishes it when the handler does', async () => {
    const q = queue({ claimTimeoutMs: 20, retryDelayMs: 1 })
    const calls: string[] = []
    let release: (() => void) | undefined
    await q.consume({ consumerId: 'slow' }, (e) => {
      calls.push(e.clientId)
      if (!release) return new Promise<void>((resolve) => (release = resolve))
    })
    await q.push(event(1))
    await waitFor('the claim timeout, or a second delivery', () => q.inFlightCount === 0 || calls.length > 1)
    expect(calls).toEqual(['c1'])
    expect(q.pendingCount).toBe(1)
    release!()
    await waitFor('the event handled', () => q.pendingCount === 0)
    expect(q.unhandledBytes).toBe(0)
    await q.push(event(2))
    await waitFor('the next event', () => calls.length === 2)
    expect(calls).toEqual(['c1', 'c2'])
  })

  it('gives reportAllEvents consumers every event besides the handling consumer', async () => {
    const q = queue()
    const observed: string[] = []
    const handled: string[] = []
    await q.consume({ consumerId: 'watch', reportAllEvents: true }, (e) => void observed.push(e.clientId))
    await q.push(event(0))
    await waitFor("observed.length === 1", () => observed.length === 1)
    expect(q.pendingCount).toBe(1)
    await q.consume({ consumerId: 'w1' }, (e) => void handled.push(e.clientId))
    await q.consume({ consumerId: 'w2' }, (e) => void handled.push(e.clientId))
    for (let i = 1; i < 5; i++) await q.push(event(i))
    await waitFor("observed.length === 5 && handled.length === 5", () => observed.length === 5 && handled.length === 5)
    expect(observed).toEqual(['c0', 'c1', 'c2', 'c3', 'c4'])
    expect([...handled].sort()).toEqual(['c0', 'c1', 'c2', 'c3', 'c4'])
  })

  it('does not let a failing observer disturb the others', async () => {
    const q = queue()
    const handled: string[] = []
    await q.consume({ consumerId: 'obs', reportAllEvents: true }, () => {
      throw new Error('observer bug')
    })
    await q.consume({ consumerId: 'obs2', reportAllEvents: true }, async () => {
      throw new Error('async observer bug')
    })
    await q.consume({ consumerId: 'w' }, (e) => void handled.push(e.clientId))
    await q.push(event(1))
    await waitFor("handled.length === 1", () => handled.length === 1)
  })

  it('rejects duplicate consumer ids, bad options and use after close', async () => {
    const q = queue()
    await q.consume({ consumerId: 'a' }, () => {})
    await expect(q.consume({ consumerId: 'a' }, () => {})).rejects.toThrow(/already consuming/)
    await expect(q.consume({ consumerId: '' }, () => {})).rejects.toBeInstanceOf(ConfigError)
    expect(() => new MemoryPortalQueue({ claimTimeoutMs: 0 })).toThrow(ConfigError)
    expect(() => new MemoryPortalQueue({ maxPending: -5 })).toThrow(ConfigError)
    expect(() => new MemoryPortalQueue({ maxPendingBytes: 0 })).toThrow(/portal.maxPendingBytes/)
    q.close()
    q.close()
    await expect(q.push(event(1))).rejects.toThrow(/closed/)
    await expect(q.consume({ consumerId: 'b' }, () => {})).rejects.toThrow(/closed/)
  })
})
