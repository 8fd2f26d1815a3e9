import { channelFrames, numbersOf, resubscriptions, subscribe, waitForChannelFrame, waitForPublications } from '@mesa/test-kit'
import { describe, expect, it } from 'vitest'
import { Message, Mesa, type MesaOptions } from '../src/index.js'
import { connect, track } from './helpers.js'
import { Tracker } from './tracker.js'

/** Two servers on the `redis` shorthand (real Redis on 127.0.0.1:6379), in a namespace of their own. */
async function redisPair(options: MesaOptions = {}): Promise<[Mesa, Mesa]> {
  const namespace = `server-test-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`
  const servers = [0, 1].map(() => {
    const mesa = track(
      new Mesa({ port: 0, host: '127.0.0.1', redis: 'redis://127.0.0.1:6379', namespace, sync: { enabled: true }, ...options }),
    )
    mesa.on('connection', (client) => client.authenticate((data, done) => done(null, { id: String(data.id), user: {} })))
    return mesa
  }) as [Mesa, Mesa]
  await Promise.all(servers.map((mesa) => mesa.listening()))
  return servers
}

const urlOf = (mesa: Mesa): string => `ws://127.0.0.1:${mesa.port}`

describe('replication through Redis (redis shorthand)', () => {
  it('delivers sends from one server to users on the other, with shared sequences', async () => {
    const [a, b] = await redisPair()
    const onB = await connect(urlOf(b), { v2: true })
    await onB.authenticate({ id: 'r1' })
    const anonymous = await connect(urlOf(b))
    await a.send(new Message(0, { n: 1 }, 'TO_USER'), ['r1'])
    await a.send(new Message(0, { n: 2 }, 'EVERYONE'))
    const frames = await onB.waitForMessages(2)
    expect(frames.map((f) => [f.t, f.s, f.x])).toEqual([
      ['TO_USER', 1, undefined],
      ['EVERYONE', 1, { st: 'g' }],
    ])
    expect((await anonymous.waitForMessages(1))[0]!.t).toBe('EVERYONE')
  })

  it('a client that moves to the other server resumes what it missed', async () => {
    const [a, b] = await redisPair()
    const tracker = new Tracker()
    const first = await tracker.connect(urlOf(a), 'mover')
    await a.send(new Message(0, { n: 1 }, 'M'), ['mover'])
    await first.waitFor('one', () => tracker.delivered.length === 1)
    tracker.detach()
    first.terminate()
    await a.send(new Message(0, { n: 2 }, 'M'), ['mover'])
    await b.send(new Message(0, { n: 3 }, 'M'), ['mover'])
    const second = await tracker.connect(urlOf(b), 'mover')
    await a.send(new Message(0, { n: 4 }, 'M'), ['mover'])
    await second.waitFor('four', () => tracker.delivered.length === 4)
    expect(tracker.numbers()).toEqual([1, 2, 3, 4])
  })

  it('channels: publications cross servers, a subscriber moving to the other server resumes its channel, presence spans both', async () => {
    const [a, b] = await redisPair({ channels: { rules: { 'room:': { joinLeave: true } } } })
    for (const mesa of [a, b]) mesa.channels.authorize(() => true)
    const ada = await connect(urlOf(a), { v2: true })
    await ada.authenticate({ id: 'ada' })
    const bob = await connect(urlOf(b), { v2: true })
    await bob.authenticate({ id: 'bob' })
    await subscribe(ada, 'room:1')
    await subscribe(bob, 'room:1')
    expect((await waitForChannelFrame(ada, 34, 'room:1', 1)).d).toEqual({ user: 'bob', joined: true })
    await a.publish('room:1', new Message(0, { n: 1 }, 'CHAT'))
    await b.publish('room:1', new Message(0, { n: 2 }, 'CHAT'))
    for (const client of [ada, bob]) {
      expect((await waitForPublications(client, 'room:1', 2)).map((f) => [f.d.n, f.s])).toEqual([
        [1, 1],
        [2, 2],
      ])
    }
    expect((await a.presence('room:1')).users.sort()).toEqual(['ada', 'bob'])

    // Ada's socket dies; she comes back on the other server and resubscribes in op 2 with her position.
    ada.terminate()
    await ada.waitClose()
    await a.publish('room:1', new Message(0, { n: 3 }, 'CHAT'))
    const back = await connect(urlOf(b), { v2: true })
    for (const [channel, position] of ada.channelPositions) back.channelPositions.set(channel, position)
    await back.authenticate({ id: 'ada' }, { extensions: { ch: resubscriptions(ada.channelPositions, ['room:1']) } })
    expect((await waitForChannelFrame(back, 31, 'room:1')).x).toMatchObject({ recovered: true, pos: { seq: 3 } })
    await a.publish('room:1', new Message(0, { n: 4 }, 'CHAT'))
    expect(numbersOf(await waitForPublications(back, 'room:1', 2))).toEqual([3, 4])
    expect(numbersOf(channelFrames(bob, 0, 'room:1'))).toEqual([1, 2, 3, 4])

    // A server that closes announces its subscribers' leaves before it lets go of the adapter it created.
    const cid = await connect(urlOf(a), { v2: true })
    await cid.authenticate({ id: 'cid' })
    await subscribe(cid, 'room:1')
    const presenceOf = (user: string) => channelFrames(bob, 34, 'room:1').filter((frame) => frame.d.user === user)
    await bob.waitFor('cid to join', () => presenceOf('cid').length === 1)
    const errors: Error[] = []
    a.on('error', (error) => void errors.push(error))
    await a.close()
    await bob.waitFor('cid to leave', () => presenceOf('cid').length === 2)
    expect(presenceOf('cid').map((frame) => frame.d.joined)).toEqual([true, false])
    expect(errors).toEqual([])
  })
})
