import { type Adapter, type Envelope, MemoryAdapter } from '@mesa/core/server'
import {
  channelFrames,
  delay,
  numbersOf,
  publications,
  type RawClient,
  resubscriptions,
  subscribe,
  waitForChannelFrame,
  waitForPublications,
} from '@mesa/test-kit'
import { describe, expect, it } from 'vitest'
import { CloseCode, Message, type Mesa, type MesaOptions } from '../src/index.js'
import { acceptIds, connect, publishingThrough, startServer, user } from './helpers.js'

async function channelServer(options: MesaOptions = {}) {
  const started = await startServer(options)
  acceptIds(started.mesa)
  started.mesa.channels.authorize((_client, channel) => channel !== 'secret')
  return started
}

const publish = (mesa: Mesa, channel: string, n: number): Promise<void> => mesa.publish(channel, new Message(0, { n }, 'M'))

async function publishRange(mesa: Mesa, channel: string, from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n++) await publish(mesa, channel, n)
}

/** A new v2 connection of user `id` that carries the channel positions of the one before. */
async function reconnect(url: string, previous: RawClient): Promise<RawClient> {
  const next = await connect(url, { v2: true })
  for (const [channel, position] of previous.channelPositions) next.channelPositions.set(channel, { ...position })
  return next
}

/**
 * Ada subscribes to `news` and gets publications 1 to `seen`; her socket closes, 'news' gets up to `published`;
 * she comes back on a new socket and subscribes with the position she had.
 */
async function awayAndBack(mesa: Mesa, url: string, seen: number, published: number) {
  const first = await user(url, 'ada', true)
  await subscribe(first, 'news')
  await publishRange(mesa, 'news', 1, seen)
  await waitForPublications(first, 'news', seen)
  first.close()
  await first.waitClose()
  await publishRange(mesa, 'news', seen + 1, published)
  const second = await reconnect(url, first)
  await second.authenticate({ id: 'ada' })
  const answer = await subscribe(second, 'news', { since: first.channelPositions.get('news')! })
  return { first, second, answer }
}

describe('resuming channels after a reconnect', () => {
  it('op 30 with since: what was missed is replayed, then live publications, each once and in order', async () => {
    const { mesa, url } = await channelServer()
    const { first, second, answer } = await awayAndBack(mesa, url, 3, 6)
    expect(answer.x).toEqual({ re: 1, pos: { epoch: expect.any(String), seq: 6 }, recovered: true })
    await publish(mesa, 'news', 7)
    await waitForPublications(second, 'news', 4)
    expect([...numbersOf(publications(first, 'news')), ...numbersOf(publications(second, 'news'))]).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(numbersOf(channelFrames(second, 0, 'news'))).toEqual([4, 5, 6, 7])
    expect(mesa.stats.replays).toBe(3)
  })

  it("op 2's x.ch resubscribes every channel after op 22: op 31 per channel (no re), resumed all or nothing each", async () => {
    const { mesa, url } = await channelServer()
    const first = await user(url, 'ada', true)
    await subscribe(first, 'a')
    await subscribe(first, 'b')
    await publish(mesa, 'a', 1)
    await publish(mesa, 'b', 1)
    await waitForPublications(first, 'b', 1)
    first.terminate()
    await first.waitClose()
    await publishRange(mesa, 'a', 2, 3)
    await publish(mesa, 'b', 2)
    await publish(mesa, 'c', 1)
    const second = await reconnect(url, first)
    const ch = resubscriptions(first.channelPositions, ['a', 'b', 'c'])
    expect(ch).toEqual({ a: expect.objectContaining({ seq: 1 }), b: expect.objectContaining({ seq: 1 }), c: null })
    await second.authenticate({ id: 'ada' }, { extensions: { ch } })
    const answers = await Promise.all(['a', 'b', 'c'].map((channel) => waitForChannelFrame(second, 31, channel)))
    expect(answers.map((frame) => frame.x)).toEqual([
      { pos: { epoch: expect.any(String), seq: 3 }, recovered: true },
      { pos: { epoch: expect.any(String), seq: 2 }, recovered: true },
      { pos: { epoch: expect.any(String), seq: 1 }, recovered: true },
    ])
    const ack = second.frames.findIndex((frame) => frame.op === 22)
    expect(second.frames.findIndex((frame) => frame.op === 31)).toBeGreaterThan(ack)
    await publish(mesa, 'c', 2)
    expect(numbersOf(await waitForPublications(second, 'a', 2))).toEqual([2, 3])
    expect(numbersOf(await waitForPublications(second, 'b', 1))).toEqual([2])
    // A channel resubscribed without a position starts at the head.
    expect(numbersOf(await waitForPublications(second, 'c', 1))).toEqual([2])
  })

  it('refuses a resubscription the hook or the rules refuse with op 33 and its code; a malformed x.ch closes with 4000', async () => {
    const { url } = await channelServer()
    const client = await connect(url, { v2: true })
    await client.authenticate({ id: 'ada' }, { extensions: { ch: { secret: null, 'bad name': null, fine: null } } })
    expect((await waitForChannelFrame(client, 33, 'secret')).x).toEqual({ reason: 'subscription refused', code: 'forbidden' })
    expect((await waitForChannelFrame(client, 33, 'bad name')).x).toMatchObject({ code: 'invalid-channel' })
    expect((await waitForChannelFrame(client, 31, 'fine')).x).toMatchObject({ recovered: true })
    const malformed = await connect(url, { v2: true })
    malformed.send({ op: 2, d: { id: 'bob' }, x: { ch: { news: { seq: 1 } } } })
    expect(await malformed.waitClose()).toEqual({ code: CloseCode.InvalidFrame, reason: expect.stringContaining('x.ch') })
  })

  it('recovered: false, trimmed, when the history after the position is gone: nothing replayed, the head adopted, live goes on', async () => {
    const adapter = new MemoryAdapter({ retention: { maxEntries: 2 } })
    const { mesa, url } = await channelServer({ adapter })
    const { second, answer } = await awayAndBack(mesa, url, 1, 5)
    expect(answer.x).toEqual({ re: 1, pos: { epoch: expect.any(String), seq: 5 }, recovered: false, reason: 'trimmed' })
    await publish(mesa, 'news', 6)
    expect(numbersOf(await waitForPublications(second, 'news', 1))).toEqual([6])
    expect(channelFrames(second, 0, 'news')).toHaveLength(1)
  })

  it('recovered: false, epoch-changed, for a position of another history', async () => {
    const { mesa, url } = await channelServer()
    await publish(mesa, 'news', 1)
    const client = await user(url, 'ada', true)
    const answer = await subscribe(client, 'news', { since: { epoch: 'gone', seq: 1 } })
    expect(answer.x).toMatchObject({ recovered: false, reason: 'epoch-changed', pos: { seq: 1 } })
  })

  it('waits while the store cannot be read, reading it again until it answers; publications meanwhile follow the replay', async () => {
    const adapter = new MemoryAdapter()
    const { mesa, url } = await channelServer({ adapter })
    const errors: Error[] = []
    mesa.on('error', (error) => void errors.push(error))
    await publishRange(mesa, 'news', 1, 3)
    const epoch = (await adapter.store.head('channel:news')).epoch
    const client = await user(url, 'ada', true)
    const readAfter = adapter.store.readAfter.bind(adapter.store)
    let reads = 0
    adapter.store.readAfter = () => {
      reads++
      return Promise.reject(new Error('store down'))
    }
    const answer = subscribe(client, 'news', { since: { epoch, seq: 1 } })
    await client.waitFor('a read tried again', () => reads >= 3)
    expect(channelFrames(client, 31, 'news')).toEqual([])
    // Published while the subscription waits: held, and written after the replay.
    await publish(mesa, 'news', 4)
    adapter.store.readAfter = readAfter
    expect((await answer).x).toEqual({ re: 1, pos: { epoch, seq: 4 }, recovered: true })
    expect(numbersOf(await waitForPublications(client, 'news', 3))).toEqual([2, 3, 4])
    // The outage is reported once, not once per attempt.
    expect(errors.map((error) => error.message)).toEqual(['store down'])
  })

  it('waits while the adapter cannot follow the channel (a Redis outage), trying again until it can', async () => {
    const adapter = new MemoryAdapter()
    const { mesa, url } = await channelServer({ adapter })
    mesa.on('error', () => {})
    const client = await user(url, 'ada', true)
    const follow = adapter.follow.bind(adapter)
    let attempts = 0
    adapter.follow = (origin, channels) => {
      attempts++
      return attempts < 3 ? Promise.reject(new Error('redis down')) : follow(origin, channels)
    }
    const answer = await subscribe(client, 'news')
    expect(answer.x).toMatchObject({ re: 1, recovered: true })
    expect(attempts).toBe(3)
    await publish(mesa, 'news', 1)
    expect(numbersOf(await waitForPublications(client, 'news', 1))).toEqual([1])
  })

  it('stops reading the store for a subscription whose socket closed', async () => {
    const adapter = new MemoryAdapter()
    const { mesa, url } = await channelServer({ adapter })
    mesa.on('error', () => {})
    const client = await user(url, 'ada', true)
    let reads = 0
    adapter.store.head = () => {
      reads++
      return Promise.reject(new Error('store down'))
    }
    void subscribe(client, 'news').catch(() => {})
    await client.waitFor('a read tried again', () => reads >= 2)
    client.close()
    await client.waitClose()
    const after = reads
    await delay(500)
    expect(reads).toBe(after)
  })

  it('publications arriving while a resume is replayed wait for it: each once, in order', async () => {
    const { mesa, url } = await channelServer({ sync: { redeliveryInterval: 20 } })
    await publishRange(mesa, 'news', 1, 5)
    const client = await user(url, 'ada', true)
    const subscribing = subscribe(client, 'news', { since: { epoch: (await mesa.adapter!.store.head('channel:news')).epoch, seq: 0 } })
    await client.waitFor('the replay to start', () => channelFrames(client, 0, 'news').length > 0)
    await publishRange(mesa, 'news', 6, 8)
    await subscribing
    expect(numbersOf(await waitForPublications(client, 'news', 8))).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    expect(channelFrames(client, 0, 'news').map((frame) => frame.s)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
  })

  it('closes with 4007 a socket for which more arrives during a channel replay than it may hold', async () => {
    const { mesa, url } = await channelServer({ maxBufferedAmount: 2048, sync: { redeliveryInterval: 60_000 } })
    await publishRange(mesa, 'news', 1, 2)
    const client = await user(url, 'ada', true)
    const epoch = (await mesa.adapter!.store.head('channel:news')).epoch
    void subscribe(client, 'news', { since: { epoch, seq: 0 } }).catch(() => {})
    await waitForPublications(client, 'news', 1)
    for (let n = 3; n <= 60; n++) await mesa.publish('news', new Message(0, { n, pad: 'x'.repeat(100) }, 'M'))
    expect((await client.waitClose()).code).toBe(CloseCode.SlowConsumer)
  })
})

/**
 * The adapter, with the envelope of each channel's first stored publication held back until `release()`: the
 * second one reaches the other server first, a gap it reads from the store.
 */
function holdingFirstPublication(inner: MemoryAdapter): { adapter: Adapter; release(): void } {
  const held: (() => void)[] = []
  const adapter = publishingThrough(inner, (envelope: Envelope) => {
    if (envelope.kind !== 'publication' || envelope.position?.seq !== 1) return inner.publish(envelope)
    return new Promise<void>((resolve, reject) => held.push(() => inner.publish(envelope).then(resolve, reject)))
  })
  const release = (): void => {
    for (const deliver of held.splice(0)) deliver()
  }
  return { adapter, release }
}

describe('channel streams across servers', () => {
  it('fills a gap from the store when a later publication arrives first, and skips the late one', async () => {
    const { adapter, release } = holdingFirstPublication(new MemoryAdapter())
    const a = await channelServer({ adapter })
    const b = await channelServer({ adapter })
    const client = await user(b.url, 'ada', true)
    await subscribe(client, 'news')
    const first = publish(a.mesa, 'news', 1)
    await publish(a.mesa, 'news', 2)
    expect(numbersOf(await waitForPublications(client, 'news', 2))).toEqual([1, 2])
    release()
    await first
    await publish(a.mesa, 'news', 3)
    expect(numbersOf(await waitForPublications(client, 'news', 3))).toEqual([1, 2, 3])
    expect(channelFrames(client, 0, 'news').map((frame) => frame.s)).toEqual([1, 2, 3])
  })
})
