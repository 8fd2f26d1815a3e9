import { Message } from '@mesa/core'
import { MemoryAdapter } from '@mesa/core/server'
import { Mesa } from '@mesa/server'
import { afterEach, describe, expect, it } from 'vitest'
import { authenticatedClient, channelFrames, numbersOf, publications, RawClient, Scope } from '@mesa/test-kit'
import { Dispatcher, DispatchEvent } from '../src/index.js'

type Outgoing = { NOTE: { n: number } }
type Channels = { [room: `room:${string}`]: Outgoing }

const scope = new Scope()
afterEach(() => scope.cleanup())

/** A real Mesa server and a dispatcher sharing one memory adapter. */
async function setup(sync: boolean): Promise<{ url: string; dispatcher: Dispatcher<Outgoing, Channels> }> {
  const adapter = new MemoryAdapter()
  scope.defer(() => adapter.close())
  const mesa = new Mesa({ port: 0, host: '127.0.0.1', adapter, sync: { enabled: sync } })
  mesa.on('connection', (client) => {
    client.authenticate((data, done) => done(null, { id: String(data.id), user: {} }))
  })
  scope.defer(() => mesa.close())
  await mesa.listening()
  const dispatcher = new Dispatcher<Outgoing, Channels>(adapter, { sync })
  scope.defer(() => dispatcher.close())
  return { url: `ws://127.0.0.1:${mesa.port}`, dispatcher }
}

/** A raw client, authenticated as `userId` when given; terminated after the test. */
async function connect(url: string, userId?: string, v2 = true): Promise<RawClient> {
  if (userId !== undefined) return authenticatedClient(scope, url, userId, v2)
  return scope.add(await RawClient.connect(url, { v2 }), (c) => c.terminate())
}

function note(n: number): Message<'NOTE', { n: number }> {
  return new Message(0, { n }, 'NOTE')
}

/** The `n` of every NOTE a client saw. */
function notes(c: RawClient): number[] {
  return numbersOf(c.messagesOf('NOTE'))
}

describe('Dispatcher with a Mesa server', () => {
  it('sends globally, to targets and excluding users; sockets get exactly what they should', async () => {
    const { url, dispatcher } = await setup(false)
    const u1a = await connect(url, 'u1')
    const u1b = await connect(url, 'u1', false)
    const u2 = await connect(url, 'u2')
    const anonymous = await connect(url)

    await dispatcher.dispatch(note(1))
    await dispatcher.dispatch(note(2), ['u1'])
    await dispatcher.dispatch(note(3), ['*'], ['u1'])
    await dispatcher.dispatch(note(4), ['u2', 'u1'], ['u2'])
    // A last message every authenticated socket gets: once it is there, everything before it is too.
    await dispatcher.dispatch(new Message(0, { n: 99 }, 'NOTE'))
    for (const c of [u1a, u1b, u2]) await c.waitFor('the last note', () => notes(c).includes(99))

    expect(notes(u1a)).toEqual([1, 2, 4, 99])
    expect(notes(u1b)).toEqual([1, 2, 4, 99])
    expect(notes(u2)).toEqual([1, 3, 99])
    // ['*'] means authenticated users: a socket that never authenticated gets none of it.
    expect(notes(anonymous)).toEqual([])
  })

  it('closes every socket of a user on DISCONNECT_CLIENT, and only theirs', async () => {
    const { url, dispatcher } = await setup(false)
    const target = [await connect(url, 'troll'), await connect(url, 'troll', false)]
    const other = await connect(url, 'nice')
    await dispatcher.dispatch(new DispatchEvent('DISCONNECT_CLIENT', { reason: 'banned' }), ['troll'])
    for (const c of target) expect(await c.closed).toEqual({ code: 4004, reason: 'banned' })
    await dispatcher.disconnect(['nobody'])
    await dispatcher.dispatch(note(1), ['nice'])
    await other.waitFor('a note', () => notes(other).length === 1)
    expect(other.isOpen).toBe(true)
  })

  it('with sync, gives an offline user what was sent meanwhile when they authenticate', async () => {
    const { url, dispatcher } = await setup(true)
    // A protocol 2 client resumes from the positions of its previous session.
    const before = await connect(url, 'v2user')
    const positions = { ...before.positions }
    await before.close()
    await dispatcher.dispatch(note(1), ['v2user', 'legacy'])
    await dispatcher.dispatch(note(2), ['v2user', 'legacy'])
    await dispatcher.dispatch(note(3))

    const back = await connect(url)
    const ack = await back.authenticate({ id: 'v2user' }, { resume: positions })
    expect(ack.x).toMatchObject({ recovered: true })
    await back.waitFor('the replay', () => notes(back).length === 3)
    expect(notes(back)).toEqual([1, 2, 3])

    // A Mesa 1.x client gets its targeted backlog with shouldSync.
    const legacy = await connect(url, undefined, false)
    await legacy.authenticate({ id: 'legacy' }, { shouldSync: true })
    await legacy.waitFor('the backlog', () => notes(legacy).length === 2)
    expect(notes(legacy)).toEqual([1, 2])
  })

  it('subscribes users on the server: sockets open now, and those that authenticate later; publishes to them', async () => {
    const { url, dispatcher } = await setup(true)
    const ada = await connect(url, 'ada')
    const adaLegacy = await connect(url, 'ada', false)
    const other = await connect(url, 'other')
    await dispatcher.subscribe(['ada', 'bo'], 'room:1')
    // Protocol 2 sockets are told (op 31, a server-side subscription); 1.x sockets just get the messages.
    await ada.waitFor('op 31', () => channelFrames(ada, 31, 'room:1').length === 1)
    expect(channelFrames(ada, 31, 'room:1')[0]).toMatchObject({ t: 'room:1', x: { srv: true, recovered: true } })

    await dispatcher.publish('room:1', note(1))
    await ada.waitFor('the publication', () => publications(ada, 'room:1').length === 1)
    expect(publications(ada, 'room:1')[0]).toMatchObject({ op: 0, t: 'NOTE', d: { n: 1 }, s: 1, x: { ch: 'room:1' } })
    await adaLegacy.waitFor('the publication', () => notes(adaLegacy).length === 1)
    expect(adaLegacy.messagesOf('NOTE')[0]).toEqual({ op: 0, t: 'NOTE', d: { n: 1 } })

    // bo was offline: the subscription was kept, and applies when bo authenticates, on any socket.
    const bo = await connect(url, 'bo')
    await bo.waitFor('op 31', () => channelFrames(bo, 31, 'room:1').length === 1)
    await dispatcher.publish('room:1', note(2))
    for (const c of [ada, bo]) await c.waitFor('the second publication', () => publications(c, 'room:1').length >= 1 && notes(c).includes(2))
    expect(numbersOf(publications(bo, 'room:1'))).toEqual([2])

    // Unsubscribed: op 33 for protocol 2, nothing more for anyone, now or after a reconnect.
    await dispatcher.unsubscribe(['ada'], 'room:1')
    await ada.waitFor('op 33', () => channelFrames(ada, 33, 'room:1').length === 1)
    const adaLater = await connect(url, 'ada')
    await dispatcher.publish('room:1', note(3))
    await dispatcher.dispatch(note(99), ['ada', 'bo'])
    for (const c of [ada, adaLater, adaLegacy, bo]) await c.waitFor('the last note', () => notes(c).includes(99))
    expect(notes(ada)).toEqual([1, 2, 99])
    expect(notes(adaLegacy)).toEqual([1, 2, 99])
    expect(notes(adaLater)).toEqual([99])
    expect(channelFrames(adaLater, 31, 'room:1')).toEqual([])
    expect(numbersOf(publications(bo, 'room:1'))).toEqual([2, 3])
    expect(notes(other)).toEqual([])
  })
})
