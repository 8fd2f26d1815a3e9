import { StoreError } from '@mesa/core'
import type { PublicationEnvelope } from '@mesa/core/server'
import { waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { RedisAdapter } from '../src/index.js'
import { TestScope } from './support/scope.js'

const scope = new TestScope()
afterEach(() => {
  vi.restoreAllMocks()
  return scope.cleanup()
})

const publication = (channel: string, n: number): PublicationEnvelope => ({
  kind: 'publication',
  origin: 'publisher',
  channel,
  frame: JSON.stringify({ op: 0, d: { n } }),
})

/** `storeAndPublish` of these publications, all called in one tick. */
function publishAll(adapter: RedisAdapter, publications: PublicationEnvelope[]) {
  return publications.map((p) => adapter.storeAndPublish!(`channel:${p.channel}`, { frame: p.frame }, p))
}

/** The publications another origin following these channels receives, in arrival order. */
async function follower(adapter: RedisAdapter, channels: string[]): Promise<PublicationEnvelope[]> {
  const got: PublicationEnvelope[] = []
  await adapter.subscribe('follower', (e) => void (e.kind === 'publication' && got.push(e)))
  await adapter.follow('follower', channels)
  return got
}

describe('RedisAdapter storeAndPublish: the publications of a tick in one script call', () => {
  it('stores and publishes a tick of publications with one call, each with its own position, in order', async () => {
    const adapter = scope.adapter()
    const got = await follower(adapter, ['a', 'b'])
    const calls = vi.spyOn(adapter.client, 'evalsha')
    const sent = [publication('a', 1), publication('b', 2), publication('a', 3), publication('a', 4), publication('b', 5)]
    const positions = await Promise.all(publishAll(adapter, sent))
    expect(calls).toHaveBeenCalledTimes(1)
    expect(positions.map((p) => p.seq)).toEqual([1, 1, 2, 3, 2])
    await waitFor('the publications', () => got.length === 5, 10_000, 0)
    expect(got).toEqual(sent.map((p, i) => ({ ...p, position: positions[i] })))
    const read = await adapter.store.readAfter('channel:a', { epoch: positions[0]!.epoch, seq: 0 })
    expect(read.status === 'ok' && read.entries.map((e) => e.frame)).toEqual([sent[0]!.frame, sent[2]!.frame, sent[3]!.frame])
  })

  it('sends at most 256 publications per call, the rest in the next', async () => {
    const adapter = scope.adapter()
    const calls = vi.spyOn(adapter.client, 'evalsha')
    const positions = await Promise.all(publishAll(adapter, Array.from({ length: 300 }, (_, n) => publication('c', n))))
    expect(calls).toHaveBeenCalledTimes(2)
    expect(positions.map((p) => p.seq)).toEqual(Array.from({ length: 300 }, (_, n) => n + 1))
  })

  it('fails each publication of a failed call with a StoreError, and the next tick publishes as usual', async () => {
    const adapter = scope.adapter()
    const got = await follower(adapter, ['ok', 'broken'])
    // A key of another type where the broken channel's stream head should be: the script fails on it.
    await scope.redis().set(`mesa:${adapter.namespace}:stream:{${adapter.namespace}:channel:broken}:h`, 'not a hash')
    const failed = await Promise.allSettled(publishAll(adapter, [publication('broken', 1), publication('ok', 2)]))
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    for (const result of failed) expect((result as PromiseRejectedResult).reason).toBeInstanceOf(StoreError)
    const [position] = await Promise.all(publishAll(adapter, [publication('ok', 3)]))
    await waitFor('the next publication', () => got.some((e) => e.frame === publication('ok', 3).frame), 10_000, 0)
    expect(got.map((e) => e.frame)).toEqual([publication('ok', 3).frame])
    expect(position!.seq).toBe(1)
  })
})
