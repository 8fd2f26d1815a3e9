import { countWrites, LOCAL_REDIS_URL, Scope } from '@mesa/test-kit'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { WriteCoalescing } from '../src/write-coalescing.js'

const scope = new Scope()
afterEach(() => scope.cleanup())

/** A connected client, and how many writes its socket made since. */
async function counted(): Promise<{ client: Redis; writes: () => number }> {
  const client = scope.add(new Redis(LOCAL_REDIS_URL, { maxRetriesPerRequest: 1 }), (c) => c.disconnect())
  await client.ping()
  return { client, writes: countWrites(client.stream) }
}

describe('WriteCoalescing', () => {
  it('sends the commands of one tick in one write, in order, each with its own reply', async () => {
    const { client, writes } = await counted()
    const coalescing = new WriteCoalescing(client)
    // A command sent by a continuation already queued when the first command is sent joins the write too.
    const continued = Promise.resolve().then(() => {
      coalescing.hold()
      return client.echo('d')
    })
    const replies = ['a', 'b', 'c'].map((word) => {
      coalescing.hold()
      return client.echo(word)
    })
    expect(await Promise.all([...replies, continued])).toEqual(['a', 'b', 'c', 'd'])
    expect(writes()).toBe(1)
  })

  it('writes each tick on its own, and leaves the socket uncorked', async () => {
    const { client, writes } = await counted()
    const coalescing = new WriteCoalescing(client)
    for (const word of ['a', 'b']) {
      coalescing.hold()
      expect(await client.echo(word)).toBe(word)
    }
    expect(writes()).toBe(2)
    expect(client.stream.writableCorked).toBe(0)
  })

  it('leaves a client that is not connected yet alone: ioredis queues its commands until it is', async () => {
    const client = scope.add(new Redis(LOCAL_REDIS_URL, { lazyConnect: true }), (c) => c.disconnect())
    const coalescing = new WriteCoalescing(client)
    coalescing.hold()
    const reply = client.echo('queued')
    coalescing.hold()
    expect(await reply).toBe('queued')
    expect(client.stream.writableCorked).toBe(0)
  })
})
