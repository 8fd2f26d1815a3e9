import { AdapterError } from '@mesa/core'
import type { DispatchEnvelope, Envelope } from '@mesa/core/server'
import { expect } from 'vitest'
import type { ContractTest } from './contract-test.js'

const dispatch = (origin: string, recipients?: string[], n = 0): DispatchEnvelope =>
  recipients === undefined
    ? { kind: 'dispatch', origin, frame: `{"op":0,"d":{"n":${n}}}` }
    : { kind: 'dispatch', origin, frame: `{"op":0,"d":{"n":${n}}}`, recipients }

/** The `n` of a dispatch envelope's frame. */
const numberOf = (envelope: Envelope): number =>
  envelope.kind === 'dispatch' ? (JSON.parse(envelope.frame) as { d: { n: number } }).d.n : -1

/** `publish` and `subscribe`: how servers, dispatchers and portals reach each other. */
export function replicationContract(test: ContractTest): void {
  test('delivers each envelope to the subscribers of every other origin, on every adapter, never back to its own, and never inside publish()', async (t) => {
    const [a, b] = await t.pair()
    const got: string[] = []
    await a.subscribe('server-a', (e) => void got.push(`a<-${e.origin}`))
    await b.subscribe('server-b', (e) => void got.push(`b<-${e.origin}`))
    await b.subscribe('server-c', (e) => void got.push(`c<-${e.origin}`))
    const first = a.publish(dispatch('server-a', ['u1']))
    const second = b.publish({ kind: 'disconnect', origin: 'dispatcher', userIds: ['u2'] })
    expect(got).toEqual([])
    await Promise.all([first, second])
    await t.until('five deliveries', () => got.length >= 5)
    expect(got.sort()).toEqual(['a<-dispatcher', 'b<-dispatcher', 'b<-server-a', 'c<-dispatcher', 'c<-server-a'])
    // Nothing more comes: a marker published after them arrives after them.
    await a.publish(dispatch('marker', ['u1']))
    await t.until('the marker', () => got.filter((g) => g.endsWith('<-marker')).length === 3)
    expect(got).toHaveLength(8)
  })

  test('delivers envelopes exactly as published', async (t) => {
    const [a, b] = await t.pair()
    const got: Envelope[] = []
    await b.subscribe('server-b', (e) => void got.push(e))
    const sent: Envelope[] = [
      {
        kind: 'dispatch',
        origin: 'server-a',
        frame: '{"op":0,"d":{"text":"héllo \\"you\\""},"t":"SAY"}',
        recipients: ['u1', 'u2'],
        excluding: ['u3'],
        sequences: { users: [4, 9], userEpochs: ['e1', 'e2'] },
      },
      {
        kind: 'dispatch',
        origin: 'server-a',
        frame: '{"op":0,"d":{}}',
        recipients: ['*'],
        sequences: { global: { epoch: 'g1', seq: 12 } },
      },
      { kind: 'dispatch', origin: 'server-a', frame: '{"op":0,"d":{}}' },
      { kind: 'disconnect', origin: 'dispatcher', userIds: ['u1', 'u2'], code: 4000, reason: 'banned' },
    ]
    for (const envelope of sent) await a.publish(envelope)
    await t.until('every envelope', () => got.length === sent.length)
    expect(got).toEqual(sent)
  })

  test("keeps the order of one publisher's envelopes with the same first recipient, and of its broadcasts", async (t) => {
    const [a, b] = await t.pair()
    const got: DispatchEnvelope[] = []
    await b.subscribe('server-b', (e) => void (e.kind === 'dispatch' && got.push(e)))
    // The order that matters: per user (a user's stream), and of broadcasts (the global stream).
    const recipients = [undefined, ['*'], ['u1'], ['u2', 'u1']]
    const route = (to: string[] | undefined) => to?.[0] ?? '*'
    for (let n = 0; n < 60; n++) await a.publish(dispatch('server-a', recipients[n % 4], n))
    await t.until('every envelope', () => got.length === 60)
    for (const name of ['*', 'u1', 'u2']) {
      const sent = Array.from({ length: 60 }, (_, n) => n).filter((n) => route(recipients[n % 4]) === name)
      expect(got.filter((e) => route(e.recipients) === name).map(numberOf)).toEqual(sent)
    }
  })

  test('stops delivering to a subscription once its unsubscribe resolved, and goes on for the others', async (t) => {
    const [a, b] = await t.pair()
    const got: string[] = []
    const unsubscribe = await b.subscribe('leaving', (e) => void got.push(`leaving<-${numberOf(e)}`))
    await b.subscribe('staying', (e) => void got.push(`staying<-${numberOf(e)}`))
    await a.publish(dispatch('server-a', ['u'], 1))
    await t.until('the first envelope on both', () => got.length === 2)
    await unsubscribe()
    await a.publish(dispatch('server-a', ['u'], 2))
    await a.publish(dispatch('server-a', ['u'], 3))
    await t.until('the later envelopes', () => got.includes('staying<-3'))
    expect(got.sort()).toEqual(['leaving<-1', 'staying<-1', 'staying<-2', 'staying<-3'])
  })

  test('reports a throwing listener as an error event (an AdapterError) and still delivers to the others', async (t) => {
    const [a, b] = await t.pair()
    const errors: Error[] = []
    b.on('error', (error) => void errors.push(error))
    let delivered = 0
    await b.subscribe('broken', () => {
      throw new Error('listener bug')
    })
    await b.subscribe('fine', () => {
      delivered++
    })
    await a.publish(dispatch('server-a'))
    await t.until('the delivery and the error', () => delivered === 1 && errors.length === 1)
    expect(errors[0]).toBeInstanceOf(AdapterError)
  })

  test('shares nothing between namespaces', async (t) => {
    const a = await t.adapter()
    const b = await t.adapter()
    expect(a.namespace).not.toBe(b.namespace)
    const gotA: string[] = []
    const gotB: string[] = []
    await a.subscribe('sa', (e) => void gotA.push(e.origin))
    await b.subscribe('sb', (e) => void gotB.push(e.origin))
    await a.publish(dispatch('from-a'))
    await b.publish(dispatch('from-b'))
    await t.until('both', () => gotA.length === 1 && gotB.length === 1)
    expect([gotA, gotB]).toEqual([['from-a'], ['from-b']])
    await a.presence.join('u', 'socket-a')
    await a.store.append('user:u', { frame: 'only in a' })
    await a.portal.push({ kind: 'connection', clientId: 'c', serverId: 's', time: 1 })
    expect(await b.presence.areOnline(['u'])).toEqual([false])
    expect((await b.store.head('user:u')).seq).toBe(0)
    const seen: string[] = []
    await b.portal.consume({ consumerId: 'b-portal' }, (e) => void seen.push(e.clientId))
    await b.portal.push({ kind: 'connection', clientId: 'mine', serverId: 's', time: 2 })
    await t.until("b's own event", () => seen.length === 1)
    expect(seen).toEqual(['mine'])
  })

  test('closes idempotently, then rejects publish, subscribe, push and consume with AdapterError', async (t) => {
    const a = await t.adapter()
    await a.subscribe('s', () => {})
    await Promise.all([a.close(), a.close()])
    await a.close()
    await expect(a.publish(dispatch('s'))).rejects.toBeInstanceOf(AdapterError)
    await expect(a.subscribe('s', () => {})).rejects.toBeInstanceOf(AdapterError)
    await expect(a.portal.push({ kind: 'connection', clientId: 'c', serverId: 's', time: 1 })).rejects.toBeInstanceOf(
      AdapterError,
    )
    await expect(a.portal.consume({ consumerId: 'late' }, () => {})).rejects.toBeInstanceOf(AdapterError)
  })
}
