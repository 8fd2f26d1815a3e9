import { describe, expect, it } from 'vitest'
import { Message, Mesa } from '../src/index.js'
import { connect, track } from './helpers.js'
import { Tracker } from './tracker.js'

/** Two servers on the `redis` shorthand (real Redis on 127.0.0.1:6379), in a namespace of their own. */
async function redisPair(): Promise<[Mesa, Mesa]> {
  const namespace = `server-test-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`
  const servers = [0, 1].map(() => {
    const mesa = track(
      new Mesa({ port: 0, host: '127.0.0.1', redis: 'redis://127.0.0.1:6379', namespace, sync: { enabled: true } }),
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
})
