import type { Envelope, PublicationEnvelope } from '@mesa/core/server'
import { RedisServer, TcpProxy, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { createKeys } from '../src/keys.js'
import { TestScope } from './support/scope.js'

const scope = new TestScope()
afterEach(() => scope.cleanup())

/** A frame of about 500 bytes, numbered. */
const publication = (origin: string, channel: string, n: number): PublicationEnvelope => ({
  kind: 'publication',
  origin,
  channel,
  frame: JSON.stringify({ op: 0, d: { n, text: 'x'.repeat(480) } }),
})

/** What Redis writes to a subscriber for one message on `channel` (RESP2 push): the bytes it reads for it. */
function pushedBytes(channel: string, envelope: Envelope): number {
  const payload = JSON.stringify(envelope)
  const push = `*3\r\n$7\r\nmessage\r\n$${Buffer.byteLength(channel)}\r\n${channel}\r\n$${Buffer.byteLength(payload)}\r\n${payload}\r\n`
  return Buffer.byteLength(push)
}

/** Subscribers of a pub/sub channel on the shared Redis. */
async function subscribers(channel: string): Promise<number> {
  const [, count] = (await scope.redis().pubsub('NUMSUB', channel)) as [string, number]
  return count
}

/** Calls of each command Redis counted (`INFO commandstats`). */
async function commandCalls(url: string, command: string): Promise<number> {
  const stats = await scope.redis(url).info('commandstats')
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0)
}

/** An adapter whose connections go through a counting proxy, with a subscription recording what reaches `origin`. */
async function proxied(namespace: string, origin: string, options: Parameters<TestScope['adapter']>[0] = {}) {
  const proxy = scope.add(await TcpProxy.start(6379), (p) => p.close())
  // No presence heartbeat while the test runs: what the proxy counts is what the subscriptions were sent.
  const adapter = scope.adapter({ namespace, presenceTtlMs: 600_000, ...options }, `redis://127.0.0.1:${proxy.port}`)
  const got: Envelope[] = []
  await adapter.subscribe(origin, (envelope) => void got.push(envelope))
  return { adapter, proxy, got }
}

describe('RedisAdapter channel routing', () => {
  it('sends an adapter nothing of the channels it does not follow: its connections read only what its origins follow', async () => {
    const namespace = scope.namespace()
    const keys = createKeys(namespace)
    const publisher = scope.adapter({ namespace })
    const quiet = await proxied(namespace, 'quiet', { channelLingerMs: 0 })
    const partial = await proxied(namespace, 'partial')
    // The quiet server had a subscriber once; it left.
    await quiet.adapter.follow('quiet', ['ch:0'])
    await quiet.adapter.unfollow('quiet', ['ch:0'])
    await partial.adapter.follow('partial', ['ch:1'])
    await waitFor('the quiet server to unsubscribe', async () => (await subscribers(keys.channel('ch:0'))) === 0)
    // A bus envelope marks where the counts start: what Redis wrote to the quiet server before it came first.
    const start: Envelope = { kind: 'dispatch', origin: 'publisher', frame: '{"op":0,"d":"start"}' }
    await publisher.publish(start)
    await waitFor('the start marker', () => quiet.got.length === 1 && partial.got.length === 1)
    const before = { quiet: quiet.proxy.toClients, partial: partial.proxy.toClients }

    let published = 0
    let partialExpected = 0
    for (let n = 0; n < 20; n++) {
      for (let c = 0; c < 100; c++) {
        const envelope = publication('publisher', `ch:${c}`, n)
        await publisher.publish(envelope)
        published += pushedBytes(keys.channel(`ch:${c}`), envelope)
        if (c === 1) partialExpected += pushedBytes(keys.channel('ch:1'), envelope)
      }
    }
    const end: Envelope = { kind: 'dispatch', origin: 'publisher', frame: '{"op":0,"d":"end"}' }
    await publisher.publish(end)
    await waitFor('the end marker', () => quiet.got.length === 2 && partial.got.length === 22)

    const endBytes = pushedBytes(keys.replicationChannel(0), end)
    expect(quiet.got.filter((e) => e.kind === 'publication')).toEqual([])
    expect(quiet.proxy.toClients - before.quiet).toBe(endBytes)
    expect(partial.got.filter((e) => e.kind === 'publication')).toHaveLength(20)
    expect(partial.proxy.toClients - before.partial).toBe(partialExpected + endBytes)
    // 2000 publications of about 600 bytes went out; the quiet server read one bus message of them all.
    expect(published).toBeGreaterThan(1_000_000)
  })

  it('subscribes a channel once for all the origins of an adapter, and unsubscribes it a linger after the last left', async () => {
    const namespace = scope.namespace()
    const channel = createKeys(namespace).channel('room')
    const a = scope.adapter({ namespace, channelLingerMs: 200 })
    await a.follow('s1', ['room'])
    await a.follow('s2', ['room'])
    expect(await subscribers(channel)).toBe(1)
    await a.unfollow('s1', ['room'])
    await a.unfollow('s2', ['room'])
    // Lingering: still subscribed, and a follow meanwhile keeps it without a command.
    expect(await subscribers(channel)).toBe(1)
    await a.follow('s3', ['room'])
    await a.unfollow('s3', ['room'])
    await waitFor('the unsubscription after the linger', async () => (await subscribers(channel)) === 0)
  })

  it('costs one command per tick however many channels are followed, and none while sockets churn within the linger', async () => {
    const redis = scope.add(await RedisServer.start(), (r) => r.destroy())
    const keys = createKeys('churn')
    const calls = async () => ({
      subscribe: await commandCalls(redis.url, 'subscribe'),
      unsubscribe: await commandCalls(redis.url, 'unsubscribe'),
    })
    const lingering = scope.adapter({ namespace: 'churn', channelLingerMs: 3000 }, redis.url)

    // A burst: a thousand channels followed within one tick take one SUBSCRIBE.
    const burst = Array.from({ length: 1000 }, (_, i) => `burst:${i}`)
    await Promise.all(burst.map((channel, i) => lingering.follow(`origin-${i % 10}`, [channel])))
    expect(await calls()).toEqual({ subscribe: 1, unsubscribe: 0 })

    // Churn: 20 channels, 10 origins, 400 follows and unfollows one after the other, within the linger.
    const churn = Array.from({ length: 20 }, (_, i) => `churn:${i}`)
    for (let i = 0; i < 200; i++) {
      const channel = churn[i % churn.length]!
      await lingering.follow(`origin-${i % 10}`, [channel])
      await lingering.unfollow(`origin-${i % 10}`, [channel])
    }
    // Each of the 20 channels was subscribed when first followed; nothing was unsubscribed.
    expect(await calls()).toEqual({ subscribe: 21, unsubscribe: 0 })

    await lingering.unfollow('origin-0', burst.filter((_, i) => i % 10 === 0))
    for (let o = 1; o < 10; o++) await lingering.unfollow(`origin-${o}`, burst.filter((_, i) => i % 10 === o))
    await waitFor('every channel to be unsubscribed', async () => {
      const numsub = (await scope.redis(redis.url).pubsub('NUMSUB', ...[...burst, ...churn].map(keys.channel))) as (string | number)[]
      return numsub.every((value, i) => i % 2 === 0 || value === 0)
    })
    // The sweeps of the lingering channels (one or two, as the deadlines fell) take one UNSUBSCRIBE per thousand
    // channels each.
    const after = await calls()
    expect(after.subscribe).toBe(21)
    expect(after.unsubscribe).toBeGreaterThanOrEqual(2)
    expect(after.unsubscribe).toBeLessThanOrEqual(4)
  })

  it('without a linger, unsubscribes with the next tick, batching what one tick gave up', async () => {
    const redis = scope.add(await RedisServer.start(), (r) => r.destroy())
    const keys = createKeys('eager')
    const eager = scope.adapter({ namespace: 'eager', channelLingerMs: 0 }, redis.url)
    const channels = Array.from({ length: 50 }, (_, i) => `eager:${i}`)
    await eager.follow('s', channels)
    await eager.unfollow('s', channels)
    await waitFor('the unsubscription', async () => {
      const numsub = (await scope.redis(redis.url).pubsub('NUMSUB', ...channels.map(keys.channel))) as (string | number)[]
      return numsub.every((value, i) => i % 2 === 0 || value === 0)
    })
    expect(await commandCalls(redis.url, 'subscribe')).toBe(1)
    expect(await commandCalls(redis.url, 'unsubscribe')).toBe(1)
    // Within one tick an unfollow and a follow cancel out; a socket coming and going once per tick costs a
    // command each way.
    for (let i = 0; i < 10; i++) {
      await eager.follow('s', ['one'])
      await eager.unfollow('s', ['one'])
      await eager.follow('s', ['one'])
      await eager.unfollow('s', ['one'])
      await waitFor('the unsubscription', async () => (await commandCalls(redis.url, 'unsubscribe')) === 2 + i)
    }
    expect(await commandCalls(redis.url, 'subscribe')).toBe(11)
  })
})
