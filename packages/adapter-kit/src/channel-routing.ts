import { AdapterError, type StreamPosition } from '@mesa/core'
import type { ChannelEnvelope, PublicationEnvelope } from '@mesa/core/server'
import { expect } from 'vitest'
import type { ContractTest } from './contract-test.js'

const publication = (origin: string, channel: string, n: number, position?: StreamPosition): PublicationEnvelope => ({
  kind: 'publication',
  origin,
  channel,
  frame: `{"op":0,"d":{"n":${n}}}`,
  ...(position === undefined ? {} : { position }),
})

/** `<channel>:<n>` of a channel envelope (`n` of a publication's frame, `+user`/`-user` for presence). */
const labelOf = (envelope: ChannelEnvelope): string =>
  envelope.kind === 'publication'
    ? `${envelope.channel}:${(JSON.parse(envelope.frame) as { d: { n: number } }).d.n}`
    : `${envelope.channel}:${envelope.joined ? '+' : '-'}${envelope.userId}`

/**
 * `follow` and `unfollow`: channel envelopes (`publication`, `presence`) reach only the origins following their
 * channel, so a server receives nothing for channels none of its sockets subscribed to. Where a test shows that
 * something does not arrive, it waits for an envelope published after it that does.
 */
export function channelRoutingContract(test: ContractTest): void {
  test('delivers a channel envelope only to the subscriptions whose origin follows its channel, on every adapter, never back to its own origin', async (t) => {
    const [a, b] = await t.pair()
    const got: string[] = []
    for (const [adapter, origin] of [
      [a, 'sa'],
      [b, 'sb'],
      [b, 'sc'],
      [b, 'idle'],
    ] as const) {
      await adapter.subscribe(origin, (e) => void (e.kind === 'publication' && got.push(`${origin}<-${labelOf(e)}`)))
    }
    await a.follow('sa', ['room:1'])
    await b.follow('sb', ['room:1', 'room:2'])
    await b.follow('sc', ['room:2'])
    await a.publish(publication('sa', 'room:1', 1))
    await a.publish(publication('sa', 'room:2', 2))
    await b.publish(publication('elsewhere', 'room:3', 3))
    await b.publish(publication('sb', 'room:1', 4))
    await a.publish(publication('marker', 'room:1', 5))
    await a.publish(publication('marker', 'room:2', 6))
    await t.until('the markers', () => got.filter((g) => /:[56]$/.test(g)).length === 4)
    expect(got.sort()).toEqual(
      ['sa<-room:1:4', 'sa<-room:1:5', 'sb<-room:1:1', 'sb<-room:1:5', 'sb<-room:2:2', 'sb<-room:2:6', 'sc<-room:2:2', 'sc<-room:2:6'].sort(),
    )
  })

  test('delivers channel envelopes exactly as published, presence envelopes routed like publications', async (t) => {
    const [a, b] = await t.pair()
    const got: ChannelEnvelope[] = []
    await b.subscribe('sb', (e) => void ((e.kind === 'publication' || e.kind === 'presence') && got.push(e)))
    await b.follow('sb', ['chat/room=1'])
    const sent: ChannelEnvelope[] = [
      publication('sa', 'chat/room=1', 1, { epoch: 'e1', seq: 7 }),
      { kind: 'presence', origin: 'sa', channel: 'chat/room=1', userId: 'alice', joined: true },
      { kind: 'publication', origin: 'sa', channel: 'chat/room=1', frame: '{"op":0,"d":{"text":"héllo \\"you\\""},"t":"SAY"}' },
      { kind: 'presence', origin: 'sa', channel: 'chat/room=2', userId: 'bob', joined: true },
      { kind: 'presence', origin: 'sa', channel: 'chat/room=1', userId: 'alice', joined: false },
    ]
    for (const envelope of sent) await a.publish(envelope)
    await t.until('the last envelope', () => got.length === 4)
    expect(got).toEqual(sent.filter((e) => e.channel === 'chat/room=1'))
  })

  test("keeps the order of one publisher's envelopes on each channel", async (t) => {
    const [a, b] = await t.pair()
    const got: string[] = []
    await b.subscribe('sb', (e) => void ((e.kind === 'publication' || e.kind === 'presence') && got.push(labelOf(e))))
    await b.follow('sb', ['x', 'y'])
    for (let n = 0; n < 60; n++) await a.publish(publication('sa', n % 3 === 0 ? 'x' : 'y', n))
    await t.until('every envelope', () => got.length === 60)
    for (const channel of ['x', 'y']) {
      const sent = Array.from({ length: 60 }, (_, n) => n).filter((n) => (n % 3 === 0) === (channel === 'x'))
      expect(got.filter((g) => g.startsWith(`${channel}:`))).toEqual(sent.map((n) => `${channel}:${n}`))
    }
  })

  test('stops delivering a channel to an origin once it unfollowed, goes on for the others, and starts again on a new follow; both are idempotent', async (t) => {
    const [a, b] = await t.pair()
    const got: string[] = []
    for (const origin of ['sb', 'sc']) {
      await b.subscribe(origin, (e) => void (e.kind === 'publication' && got.push(`${origin}<-${labelOf(e)}`)))
    }
    await b.follow('sb', ['room', 'keep'])
    await b.follow('sb', ['room'])
    await b.follow('sc', ['room'])
    await a.publish(publication('sa', 'room', 1))
    await t.until('the first envelope', () => got.length === 2)
    await b.unfollow('sb', ['room'])
    await b.unfollow('sb', ['room', 'never-followed'])
    await b.unfollow('nobody', ['keep', 'room'])
    await a.publish(publication('sa', 'room', 2))
    await a.publish(publication('sa', 'keep', 3))
    await t.until('the envelopes after the unfollow', () => got.includes('sb<-keep:3') && got.includes('sc<-room:2'))
    await b.unfollow('sc', ['room'])
    await b.follow('sb', ['room'])
    await a.publish(publication('sa', 'room', 4))
    await a.publish(publication('sa', 'keep', 5))
    await t.until('the envelopes after following again', () => got.includes('sb<-room:4') && got.includes('sb<-keep:5'))
    expect(got.sort()).toEqual(['sb<-keep:3', 'sb<-keep:5', 'sb<-room:1', 'sb<-room:4', 'sc<-room:1', 'sc<-room:2'].sort())
  })

  test('follows and unfollows many channels in one call', async (t) => {
    const [a, b] = await t.pair()
    const got = new Set<string>()
    await b.subscribe('sb', (e) => void (e.kind === 'publication' && got.add(e.channel)))
    const channels = Array.from({ length: 200 }, (_, i) => `many:${i}`)
    await b.follow('sb', channels)
    for (const channel of channels) await a.publish(publication('sa', channel, 1))
    await t.until('one envelope of each channel', () => got.size === channels.length)
    await b.unfollow('sb', channels.slice(1))
    got.clear()
    for (const channel of channels.slice(1)) await a.publish(publication('sa', channel, 2))
    await a.publish(publication('sa', channels[0]!, 3))
    await t.until('the still followed channel', () => got.size > 0)
    expect([...got]).toEqual([channels[0]])
  })

  test('shares no channel between namespaces', async (t) => {
    const a = await t.adapter()
    const b = await t.adapter()
    const got: string[] = []
    await a.subscribe('sa', (e) => void (e.kind === 'publication' && got.push(`a<-${labelOf(e)}`)))
    await b.subscribe('sb', (e) => void (e.kind === 'publication' && got.push(`b<-${labelOf(e)}`)))
    await a.follow('sa', ['room'])
    await b.follow('sb', ['room'])
    await a.publish(publication('from-a', 'room', 1))
    await b.publish(publication('from-b', 'room', 2))
    await t.until('both', () => got.length >= 2)
    await a.publish(publication('from-a', 'room', 3))
    await t.until('the marker', () => got.includes('a<-room:3'))
    expect(got.sort()).toEqual(['a<-room:1', 'a<-room:3', 'b<-room:2'])
  })

  test('storeAndPublish (optional): stores the entry and publishes the envelope with the position it got, as append then publish would', async (t, skip) => {
    const [a, b] = await t.pair()
    const storeAndPublish = a.storeAndPublish?.bind(a)
    if (storeAndPublish === undefined) return skip('the adapter has no storeAndPublish: publishers append, then publish')
    const got: PublicationEnvelope[] = []
    await a.subscribe('sa', (e) => void (e.kind === 'publication' && got.push(e)))
    await b.subscribe('sb', (e) => void (e.kind === 'publication' && got.push(e)))
    await b.follow('sb', ['room:1'])
    await a.follow('sa', ['room:1'])
    const before = await a.store.append('channel:room:1', { frame: 'before' })
    const sent = publication('sa', 'room:1', 1)
    const position = await storeAndPublish('channel:room:1', { frame: sent.frame }, sent)
    expect(position).toEqual({ epoch: before.epoch, seq: before.seq + 1 })
    await b.publish(publication('marker', 'room:1', 2))
    await t.until('the marker', () => got.some((e) => e.origin === 'marker'))
    // To the other origin following the channel, with its position; never back to its own origin.
    expect(got.filter((e) => e.origin === 'sa')).toEqual([{ ...sent, position }])
    expect(got.filter((e) => e.origin === 'marker')).toHaveLength(2)
    const read = await b.store.readAfter('channel:room:1', before)
    expect(read.status === 'ok' && read.entries.map((entry) => [entry.seq, entry.frame])).toEqual([[position.seq, sent.frame]])
    await a.close()
    await expect(storeAndPublish('channel:room:1', { frame: sent.frame }, sent)).rejects.toBeInstanceOf(Error)
  })

  test('rejects follow with AdapterError once closed; unfollow then changes nothing', async (t) => {
    const a = await t.adapter()
    await a.follow('s', ['room'])
    await a.close()
    await expect(a.follow('s', ['room'])).rejects.toBeInstanceOf(AdapterError)
    await expect(a.unfollow('s', ['room'])).resolves.toBeUndefined()
  })
}
