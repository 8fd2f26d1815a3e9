import { Child, fixture, RawClient, scenario, waitFor } from '@mesa/test-kit'
import { describe, expect, it } from 'vitest'

const { scope, watch } = scenario(['core', 'server'])

interface Memory {
  rss: number
  heapUsed: number
  external: number
  arrayBuffers: number
}

const MiB = 2 ** 20
const CONSUMERS = 20

/** A client that authenticates as `id`, then stops reading: everything sent to it piles up on the server. */
async function pausedConsumer(url: string, id: string): Promise<RawClient> {
  const client = scope.add(await RawClient.connect(url), (c) => c.terminate())
  await client.authenticate({ id })
  client.pauseReading()
  return client
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`
}

/** Starts the memory-measuring server; `env` overrides its limits. */
async function memoryServer(env: Record<string, string> = {}): Promise<{ server: Child; url: string }> {
  const server = scope.add(
    await Child.start('memory-server', fixture('memory-server.mjs'), { NODE_OPTIONS: '--expose-gc', ...env }),
    (child) => child.stop(),
  )
  watch(server)
  return { server, url: `ws://127.0.0.1:${server.info.port as number}` }
}

describe('a flood to consumers that never read', () => {
  it('keeps the server’s memory bounded while it lasts and gives it back once the slow sockets are cut', async () => {
    const { server, url } = await memoryServer({ CLOSE_TIMEOUT_MS: '1000' })
    const ids = Array.from({ length: CONSUMERS }, (_, i) => `consumer-${i}`)
    for (const id of ids) await pausedConsumer(url, id)
    const before = await server.call<Memory>('memory')

    // 25 000 targeted messages of 1 KB to each of 20 consumers: 500 MB offered to sockets that read nothing.
    const peak = await server.call<Memory>('flood', ids, 25_000, 1024, 25)
    // Every consumer was closed as slow, and cut once it did not read its close frame.
    const open = async () => (await server.call<{ connections: number }>('stats')).connections
    await waitFor('the slow consumers to be cut', async () => (await open()) === 0, 15_000)
    const stats = await server.call<{ slowConsumerCuts: number }>('stats')
    const after = await server.call<Memory>('memory')
    const report = (name: string, key: keyof Memory) =>
      `${name}: before ${mib(before[key])}, peak ${mib(peak[key])}, after ${mib(after[key])}`
    console.info(`slow consumers: ${report('rss', 'rss')}; ${report('heap', 'heapUsed')}; ${report('external', 'external')}`)
    expect(stats.slowConsumerCuts).toBe(CONSUMERS)
    expect(server.eventsOf('server-error').every((event) => event.code === 'slow-consumer')).toBe(true)
    // During: about 1 MiB (maxBufferedAmount) per consumer, held as ~2 MiB of buffers. With the 16 MiB per-socket
    // bound of earlier releases this run peaked at 860 MB of RSS (and 670 MB of buffers), 790 MB after collection.
    const grown = (memory: Memory) => memory.heapUsed + memory.external - (before.heapUsed + before.external)
    expect(grown(peak)).toBeLessThan(150 * MiB)
    expect(peak.rss - before.rss).toBeLessThan(300 * MiB)
    // After: the buffers are gone (the allocator may keep some pages it got: RSS comes down less).
    expect(grown(after)).toBeLessThan(16 * MiB)
    expect(after.rss - before.rss).toBeLessThan(200 * MiB)
  })
})
