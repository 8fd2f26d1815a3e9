import { MemoryAdapter, type SubscriptionEnvelope } from '@mesa/core/server'
import {
  channelFrames,
  delay,
  numbersOf,
  publications,
  subscribe,
  unsubscribe,
  waitFor,
  waitForChannelFrame,
  waitForPublications,
} from '@mesa/test-kit'
import { describe, expect, it } from 'vitest'
import { Message, type MesaOptions } from '../src/index.js'
import { acceptIds, startServer, user } from './helpers.js'

/** A MemoryAdapter that records every follow and unfollow call. */
function recordingAdapter(): MemoryAdapter & { calls: string[] } {
  const adapter = new MemoryAdapter() as MemoryAdapter & { calls: string[] }
  adapter.calls = []
  const { follow, unfollow } = adapter
  adapter.follow = (origin, channels) => {
    adapter.calls.push(`${origin} follow ${channels.join(',')}`)
    return follow.call(adapter, origin, channels)
  }
  adapter.unfollow = (origin, channels) => {
    adapter.calls.push(`${origin} unfollow ${channels.join(',')}`)
    return unfollow.call(adapter, origin, channels)
  }
  return adapter
}

async function channelServer(options: MesaOptions & { id: string }) {
  const started = await startServer(options)
  acceptIds(started.mesa)
  started.mesa.channels.authorize(() => true)
  return started
}

describe('channels across servers sharing an adapter', () => {
  it('publications cross servers; a server follows a channel only while one of its sockets takes it', async () => {
    const adapter = recordingAdapter()
    const a = await channelServer({ adapter, id: 'A' })
    const b = await channelServer({ adapter, id: 'B' })
    const onA = await user(a.url, 'ada', true)
    const onB = await user(b.url, 'bob', true)
    const alsoOnB = await user(b.url, 'cid', true)
    await subscribe(onA, 'news')
    // Two sockets of B subscribing in one tick: one follow call.
    await Promise.all([subscribe(onB, 'news'), subscribe(alsoOnB, 'news')])
    expect(adapter.calls).toEqual(['A follow news', 'B follow news'])
    await a.mesa.publish('news', new Message(0, { n: 1 }, 'M'))
    await b.mesa.publish('news', new Message(0, { n: 2 }, 'M'))
    for (const client of [onA, onB, alsoOnB]) {
      expect((await waitForPublications(client, 'news', 2)).map((frame) => [frame.d.n, frame.s])).toEqual([
        [1, 1],
        [2, 2],
      ])
    }
    // Stored once per publication, whatever the subscribers.
    expect((await adapter.store.head('channel:news')).seq).toBe(2)

    // B has nobody on `sports`: it does not follow it, and receives none of its publications.
    await subscribe(onA, 'sports')
    await a.mesa.publish('sports', new Message(0, { n: 1 }, 'M'))
    await waitForPublications(onA, 'sports', 1)
    expect(adapter.calls).toEqual(['A follow news', 'B follow news', 'A follow sports'])
    expect(b.mesa.stats.channels).toMatchObject({ followed: 1, received: 1 })
    expect(a.mesa.stats.channels).toMatchObject({ followed: 2, received: 1, published: 2 })

    // B unfollows once its last socket on `news` left (unsubscribed, or closed).
    await unsubscribe(onB, 'news')
    await delay(10)
    expect(adapter.calls).toHaveLength(3)
    alsoOnB.close()
    await waitFor('B to unfollow news', () => adapter.calls.length === 4)
    expect(adapter.calls[3]).toBe('B unfollow news')
    await a.mesa.publish('news', new Message(0, { n: 3 }, 'M'))
    await waitForPublications(onA, 'news', 3)
    await delay(20)
    expect(b.mesa.stats.channels).toMatchObject({ followed: 0, received: 1, subscriptions: 0 })
    expect(publications(onB, 'news')).toHaveLength(2)
  })

  it('a channel left and taken again within a tick costs no adapter call; closing a server unfollows what it followed', async () => {
    const adapter = recordingAdapter()
    const a = await channelServer({ adapter, id: 'A' })
    await user(a.url, 'ada', true)
    const client = a.mesa.clients[0]!
    await client.subscribe('news')
    client.unsubscribe('news')
    await client.subscribe('news')
    await client.subscribe('other')
    expect(adapter.calls).toEqual(['A follow news', 'A follow other'])
    await a.mesa.close()
    expect(adapter.calls).toEqual(['A follow news', 'A follow other', 'A unfollow news,other'])
  })

  it('subscription envelopes (a Dispatcher) subscribe and unsubscribe every socket of those users, on every server', async () => {
    const adapter = new MemoryAdapter()
    const a = await channelServer({ adapter, id: 'A' })
    const b = await channelServer({ adapter, id: 'B' })
    const onA = await user(a.url, 'ada', true)
    const onB = await user(b.url, 'ada', true)
    const legacy = await user(b.url, 'ada')
    const other = await user(b.url, 'bob', true)
    const envelope: SubscriptionEnvelope = { kind: 'subscription', origin: 'dispatcher', userIds: ['ada'], channel: 'alerts', subscribe: true }
    await adapter.publish(envelope)
    for (const client of [onA, onB]) {
      expect((await waitForChannelFrame(client, 31, 'alerts')).x).toEqual({
        pos: { epoch: expect.any(String), seq: 0 },
        recovered: true,
        srv: true,
      })
    }
    await waitFor('the 1.x socket to be subscribed', () => b.mesa.clients.some((c) => c.protocol === 1 && c.channels.includes('alerts')))
    await a.mesa.publish('alerts', new Message(0, { n: 1 }, 'ALERT'))
    for (const client of [onA, onB]) expect(numbersOf(await waitForPublications(client, 'alerts', 1))).toEqual([1])
    expect(await legacy.waitForMessages(1)).toEqual([{ op: 0, t: 'ALERT', d: { n: 1 } }])
    await adapter.publish({ ...envelope, subscribe: false })
    for (const client of [onA, onB]) {
      expect((await waitForChannelFrame(client, 33, 'alerts')).x).toEqual({ reason: 'unsubscribed by the server' })
    }
    await waitFor('the 1.x socket to be unsubscribed', () => b.mesa.clients.every((c) => c.channels.length === 0))
    await a.mesa.publish('alerts', new Message(0, { n: 2 }, 'ALERT'))
    await delay(30)
    expect(publications(onA, 'alerts')).toHaveLength(1)
    expect(legacy.messages).toHaveLength(1)
    expect(other.frames.filter((frame) => frame.op !== 10 && frame.op !== 22)).toEqual([])
    expect(channelFrames(onB, 0, 'alerts')).toHaveLength(1)
  })
})
