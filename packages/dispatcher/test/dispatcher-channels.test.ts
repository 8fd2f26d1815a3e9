import { Message, StoreError } from '@mesa/core'
import { channelStream, encodeMessage, type Envelope, MemoryAdapter, type PublicationEnvelope } from '@mesa/core/server'
import { delay, Scope, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { ChannelLimitError, DispatchError, Dispatcher, DispatcherClosedError } from '../src/index.js'

type Channels = {
  ticker: { PRICE: { symbol: string; price: number } }
  [room: `room:${string}`]: { CHAT: { text: string } }
}

const scope = new Scope()
afterEach(() => scope.cleanup())

/** An adapter, a dispatcher on it, and what two servers subscribed to it receive: one follows `followed`. */
async function setup(options: ConstructorParameters<typeof Dispatcher>[1] = {}, followed = ['room:1']) {
  const adapter = new MemoryAdapter()
  scope.defer(() => adapter.close())
  const following: Envelope[] = []
  const other: Envelope[] = []
  await adapter.subscribe('server-1', (envelope) => following.push(envelope))
  await adapter.subscribe('server-2', (envelope) => other.push(envelope))
  await adapter.follow('server-1', followed)
  const dispatcher = new Dispatcher<Record<string, never>, Channels>(adapter, options)
  scope.defer(() => dispatcher.close())
  return { adapter, dispatcher, following, other }
}

const chat = (text: string, sync = true) => new Message(0, { text }, 'CHAT', { sync })

describe('Dispatcher channels with the memory adapter', () => {
  it('publishes a publication envelope that only servers following the channel receive', async () => {
    const { dispatcher, following, other } = await setup()
    const message = chat('hello')
    await dispatcher.publish('room:1', message)
    await dispatcher.publish('room:2', chat('nobody follows room:2'))
    await waitFor('the publication', () => following.length === 1)
    expect(following[0]).toEqual({ kind: 'publication', origin: dispatcher.id, channel: 'room:1', frame: encodeMessage(message) })
    // A marker on a followed channel arrives after anything published before it.
    await dispatcher.publish('room:1', chat('marker'))
    await waitFor('the marker', () => following.length === 2)
    expect(other).toEqual([])
  })

  it('with sync, stores the publication once in the channel stream before publishing it, with its position', async () => {
    const { adapter, dispatcher, following } = await setup({ sync: true })
    const first = chat('one')
    await dispatcher.publish('room:1', first)
    await dispatcher.publish('room:1', chat('two'))
    const head = await adapter.store.head(channelStream('room:1'))
    expect(head.seq).toBe(2)
    const read = await adapter.store.readAfter(channelStream('room:1'), { epoch: head.epoch, seq: 0 })
    expect(read.status === 'ok' && read.entries.map((entry) => entry.frame)).toEqual([encodeMessage(first), encodeMessage(chat('two'))])
    await waitFor('both publications', () => following.length === 2)
    expect(following.map((envelope) => (envelope as PublicationEnvelope).position)).toEqual([
      { epoch: head.epoch, seq: 1 },
      { epoch: head.epoch, seq: 2 },
    ])
  })

  it('does not store a message sent with { sync: false }, nor anything without the sync option', async () => {
    const synced = await setup({ sync: true })
    await synced.dispatcher.publish('room:1', chat('typing', false))
    expect((await synced.adapter.store.head(channelStream('room:1'))).seq).toBe(0)
    await waitFor('the live publication', () => synced.following.length === 1)
    expect((synced.following[0] as PublicationEnvelope).position).toBeUndefined()

    const unsynced = await setup()
    await unsynced.dispatcher.publish('room:1', chat('live only'))
    expect((await unsynced.adapter.store.head(channelStream('room:1'))).seq).toBe(0)
  })

  it('rejects with StoreError and publishes nothing when storing fails', async () => {
    const { adapter, dispatcher, following } = await setup({ sync: true })
    adapter.store.append = async () => {
      throw new Error('disk full')
    }
    const failure = dispatcher.publish('room:1', chat('lost'))
    await expect(failure).rejects.toBeInstanceOf(StoreError)
    await expect(failure).rejects.toThrow('storing the publication in channel room:1 failed: disk full')
    await delay(10)
    expect(following).toEqual([])
  })

  it('refuses bad channel names and messages with typed errors, publishing nothing', async () => {
    const { dispatcher, following } = await setup()
    const untyped = dispatcher as unknown as Dispatcher
    for (const channel of ['', 'has space', 'x'.repeat(257), 42, 'room:é']) {
      const failure = untyped.publish(channel as string, chat('x'))
      await expect(failure).rejects.toBeInstanceOf(DispatchError)
      await expect(failure).rejects.toMatchObject({ code: 'invalid-channel' })
    }
    await expect(untyped.subscribe(['u1'], 'bad channel')).rejects.toMatchObject({ code: 'invalid-channel' })
    await expect(untyped.unsubscribe(['u1'], '')).rejects.toMatchObject({ code: 'invalid-channel' })
    await expect(untyped.publish('room:1', { opcode: 0, data: {} } as never)).rejects.toMatchObject({ code: 'invalid-message' })
    await expect(untyped.publish('room:1', new Message(5, {}, 'DISCONNECT_CLIENT'))).rejects.toThrow('a Message of opcode 0')
    await delay(10)
    expect(following).toEqual([])
  })

  it('types channels and their messages by the channel map', async () => {
    const { dispatcher } = await setup({}, [])
    await dispatcher.publish('ticker', new Message(0, { symbol: 'MESA', price: 1 }, 'PRICE'))
    await dispatcher.publish('room:lobby', chat('hi'))
    // @ts-expect-error: ticker carries PRICE messages only
    await dispatcher.publish('ticker', chat('hi'))
    // @ts-expect-error: no such channel in the map
    await expect(dispatcher.publish('news', chat('hi'))).resolves.toBeUndefined()
    await dispatcher.subscribe(['u1'], 'room:lobby')
    // @ts-expect-error: no such channel in the map
    await dispatcher.subscribe(['u1'], 'news')
  })

  it('subscribe remembers the channel per user in the adapter, then tells every server', async () => {
    const { adapter, dispatcher, following, other } = await setup()
    await dispatcher.subscribe(['u1', 'u2', 'u1'], 'room:7')
    expect(await adapter.userChannels.channelsOf('u1')).toEqual(['room:7'])
    expect(await dispatcher.channelsOf('u2')).toEqual(['room:7'])
    await waitFor('the subscription on both servers', () => following.length === 1 && other.length === 1)
    // Not a channel envelope: every server gets it, whatever it follows.
    expect(other[0]).toEqual({ kind: 'subscription', origin: dispatcher.id, userIds: ['u1', 'u2'], channel: 'room:7', subscribe: true })
    expect(following).toEqual(other)

    await dispatcher.unsubscribe(['u1'], 'room:7')
    expect(await dispatcher.channelsOf('u1')).toEqual([])
    expect(await dispatcher.channelsOf('u2')).toEqual(['room:7'])
    await waitFor('the unsubscription', () => other.length === 2)
    expect(other[1]).toEqual({ kind: 'subscription', origin: dispatcher.id, userIds: ['u1'], channel: 'room:7', subscribe: false })
  })

  it('refuses users at maxChannelsPerUser with ChannelLimitError naming them, and subscribes the others', async () => {
    const { dispatcher, other } = await setup({ maxChannelsPerUser: 2 })
    await dispatcher.subscribe(['busy'], 'room:1')
    await dispatcher.subscribe(['busy'], 'room:2')
    const failure = dispatcher.subscribe(['fresh', 'busy'], 'room:3')
    await expect(failure).rejects.toBeInstanceOf(ChannelLimitError)
    await expect(failure).rejects.toMatchObject({ code: 'too-many-channels', userIds: ['busy'] })
    await expect(failure).rejects.toThrow('users "busy" are subscribed to 2 channels already')
    expect(await dispatcher.channelsOf('fresh')).toEqual(['room:3'])
    expect((await dispatcher.channelsOf('busy')).sort()).toEqual(['room:1', 'room:2'])
    await waitFor('three subscription envelopes', () => other.length === 3)
    expect(other[2]).toMatchObject({ userIds: ['fresh'], channel: 'room:3', subscribe: true })
    // Subscribing again to a channel the user has is never refused.
    await dispatcher.subscribe(['busy'], 'room:1')
    // Nobody could be subscribed: nothing is published.
    await expect(dispatcher.subscribe(['busy'], 'room:4')).rejects.toBeInstanceOf(ChannelLimitError)
    await dispatcher.unsubscribe(['busy'], 'room:9')
    await waitFor('the last two envelopes', () => other.length === 5)
    expect(other.slice(3).map((envelope) => envelope.kind === 'subscription' && [envelope.channel, envelope.subscribe])).toEqual([
      ['room:1', true],
      ['room:9', false],
    ])
  })

  it('refuses "*" and other bad user ids, sends nothing for none, and rejects after close()', async () => {
    const { dispatcher, other, adapter } = await setup()
    await expect(dispatcher.subscribe(['*'], 'room:1')).rejects.toThrow('"*" (everyone) is refused')
    await expect(dispatcher.unsubscribe([''], 'room:1')).rejects.toMatchObject({ code: 'invalid-recipients' })
    await expect(dispatcher.subscribe('u1' as never, 'room:1')).rejects.toBeInstanceOf(DispatchError)
    await expect(dispatcher.channelsOf('')).rejects.toBeInstanceOf(DispatchError)
    await dispatcher.subscribe([], 'room:1')
    await dispatcher.unsubscribe([], 'room:1')
    await delay(10)
    expect(other).toEqual([])
    expect(() => new Dispatcher(adapter, { maxChannelsPerUser: 0 })).toThrow('maxChannelsPerUser must be a positive integer')

    await dispatcher.close()
    await expect(dispatcher.publish('room:1', chat('late'))).rejects.toBeInstanceOf(DispatcherClosedError)
    await expect(dispatcher.subscribe(['u1'], 'room:1')).rejects.toBeInstanceOf(DispatcherClosedError)
    await expect(dispatcher.channelsOf('u1')).rejects.toBeInstanceOf(DispatcherClosedError)
  })
})
