import { delay, Scope, serverFrames, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { type Message, type SubscribedInfo, type Subscription, SubscriptionError } from '../src/index.js'
import { framesOf, sessionHarness } from './session-support.js'

/** Channels in the client session, protocol level: a scripted server plays every frame of the server's side. */

const scope = new Scope()
afterEach(() => scope.cleanup())
const { serve, client, signIn } = sessionHarness(scope)

const { authenticated, subscribed, publication, reply, failure } = serverFrames

/** Records what a subscription emits. */
function record(sub: Subscription) {
  const log = { messages: [] as Message[], subscribed: [] as SubscribedInfo[], unsubscribed: [] as string[], errors: [] as Error[] }
  sub.on('message', (message) => log.messages.push(message))
  sub.on('subscribed', (info) => log.subscribed.push(info))
  sub.on('unsubscribed', (reason) => log.unsubscribed.push(reason))
  sub.on('error', (error) => log.errors.push(error))
  return log
}


describe('ClientSession: channels', () => {
  it('subscribes with op 30, is subscribed by op 31, and routes the channel publications to the subscription, each once', async () => {
    const server = await serve()
    const session = client(server.url)
    const side = await signIn(server, session)
    const fromSession: Message[] = []
    session.on('message', (message) => fromSession.push(message))
    const sub = session.subscribe('room:1', { params: { key: 'k' } })
    expect(session.subscribe('room:1')).toBe(sub)
    expect([...session.subscriptions.keys()]).toEqual(['room:1'])
    const log = record(sub)
    const ask = await side.frame(30)
    expect(ask).toEqual({ op: 30, d: { key: 'k' }, t: 'room:1', x: { id: expect.any(Number) } })
    // Before its op 31 the channel is not live: a publication now would come ahead of the replay.
    side.send(publication('room:1', 'SAY', { n: 0 }, 4))
    side.send(subscribed('room:1', { re: ask.x!.id as number, pos: { epoch: 'c1', seq: 4 } }))
    for (const s of [5, 5, 4, 6]) side.send(publication('room:1', 'SAY', { n: s }, s))
    side.send(publication('room:2', 'SAY', { n: 'other channel' }, 1))
    side.send({ op: 0, d: { n: 'user stream' }, t: 'DIRECT' })
    await waitFor('publications', () => log.messages.length === 2 && fromSession.length === 1)
    await delay(20)
    expect(log.subscribed).toEqual([{ recovered: true, reason: undefined, position: { epoch: 'c1', seq: 4 } }])
    expect(log.messages.map((message) => [message.type, message.data.n, message.sequence])).toEqual([
      ['SAY', 5, 5],
      ['SAY', 6, 6],
    ])
    expect(fromSession.map((message) => message.type)).toEqual(['DIRECT'])
    expect(sub.position).toEqual({ epoch: 'c1', seq: 6 })
    expect(sub.server).toBe(false)
  })

  it('asks for a subscription made while authenticating once the answer came, and one made offline once connected', async () => {
    const server = await serve()
    const session = client(server.url, { autoConnect: false })
    const early = session.subscribe('early')
    await session.connect()
    const side = await server.connection(0)
    // Anonymous: asked for as soon as the hello is known.
    expect((await side.frame(30)).t).toBe('early')
    const auth = session.authenticate({ token: 't' })
    await side.frame(2)
    const during = session.subscribe('during')
    await delay(30)
    expect(framesOf(side, 30).map((frame) => frame.t)).toEqual(['early'])
    side.send(authenticated())
    await auth
    await waitFor('op 30 after the answer', () => framesOf(side, 30).length === 2)
    expect(framesOf(side, 30).map((frame) => frame.t)).toEqual(['early', 'during'])
    expect([...session.subscriptions.values()]).toEqual([early, during])
  })

  it('asks from a position given as since', async () => {
    const server = await serve()
    const session = client(server.url)
    const side = await signIn(server, session)
    const sub = session.subscribe('feed', { since: { epoch: 'e', seq: 7 } })
    expect((await side.frame(30)).x).toEqual({ id: expect.any(Number), since: { epoch: 'e', seq: 7 } })
    const log = record(sub)
    const ask = await side.frame(30)
    side.send(subscribed('feed', { re: ask.x!.id as number, pos: { epoch: 'e', seq: 9 } }))
    for (const s of [8, 9]) side.send(publication('feed', 'ITEM', {}, s))
    await waitFor('replay', () => log.messages.length === 2)
    expect(log.messages.map((message) => message.sequence)).toEqual([8, 9])
  })

  it('reports a refused subscription as a SubscriptionError, and forgets it', async () => {
    const server = await serve()
    const session = client(server.url)
    const side = await signIn(server, session)
    const sub = session.subscribe('secret')
    const log = record(sub)
    const ask = await side.frame(30)
    side.send(failure(ask.x!.id as number, 'forbidden', 'not for you'))
    await waitFor('error', () => log.errors[0])
    expect(log.errors[0]).toBeInstanceOf(SubscriptionError)
    expect(log.errors[0]).toMatchObject({ name: 'SubscriptionError', code: 'forbidden', message: 'not for you' })
    expect(session.subscriptions.size).toBe(0)
    // A new subscription to the channel is a new object, asked for again.
    expect(session.subscribe('secret')).not.toBe(sub)
    await waitFor('asked again', () => framesOf(side, 30).length === 2)
  })

  it('unsubscribes with op 32: resolves on the answer, says unsubscribed, and takes nothing more', async () => {
    const server = await serve()
    const session = client(server.url)
    const side = await signIn(server, session)
    const sub = session.subscribe('news')
    const log = record(sub)
    const ask = await side.frame(30)
    side.send(subscribed('news', { re: ask.x!.id as number, pos: { epoch: 'n', seq: 0 } }))
    await waitFor('subscribed', () => log.subscribed.length === 1)
    let resolved = false
    const done = sub.unsubscribe().then(() => {
      resolved = true
    })
    expect(session.subscriptions.size).toBe(0)
    expect(log.unsubscribed).toEqual(['client'])
    const leave = await side.frame(32)
    expect(leave).toEqual({ op: 32, d: {}, t: 'news', x: { id: expect.any(Number) } })
    side.send(publication('news', 'LATE', {}, 1))
    await delay(30)
    expect(resolved).toBe(false)
    side.send(reply(leave.x!.id as number))
    await done
    expect(log.messages).toEqual([])
    // Already over: nothing more to say.
    await sub.unsubscribe()
    expect(framesOf(side, 32)).toHaveLength(1)
  })

  it('rejects unsubscribe() when the server refuses it', async () => {
    const server = await serve()
    const session = client(server.url)
    const side = await signIn(server, session)
    const sub = session.subscribe('news')
    const ask = await side.frame(30)
    side.send(subscribed('news', { re: ask.x!.id as number }))
    const done = sub.unsubscribe()
    const leave = await side.frame(32)
    side.send(failure(leave.x!.id as number, 'rate-limited'))
    await expect(done).rejects.toMatchObject({ name: 'SubscriptionError', code: 'rate-limited' })
  })

  it('renews its subscriptions after a reconnect: op 2 x.ch with positions, op 30 for those with params, then replays once each', async () => {
    const server = await serve()
    const session = client(server.url)
    const first = await signIn(server, session)
    const plain = session.subscribe('plain')
    const withParams = session.subscribe('private', { params: { token: 'p' } })
    const fresh = session.subscribe('fresh')
    const log = record(plain)
    const asks = await waitFor('three op 30', () => framesOf(first, 30).length === 3 && framesOf(first, 30))
    first.send(subscribed('plain', { re: asks[0]!.x!.id as number, pos: { epoch: 'p', seq: 2 } }))
    first.send(subscribed('private', { re: asks[1]!.x!.id as number, pos: { epoch: 'q', seq: 0 } }))
    for (const s of [3, 4]) first.send(publication('plain', 'M', {}, s))
    await waitFor('live', () => log.messages.length === 2)
    first.ws.terminate()

    const second = await server.connection(1)
    const auth = await second.frame(2)
    // `fresh` never got its answer: asked again from no position; `private` has params: op 30 after op 22.
    expect(auth.x!.ch).toEqual({ plain: { epoch: 'p', seq: 4 }, fresh: null })
    await delay(20)
    expect(framesOf(second, 30)).toEqual([])
    // Live publications before the channel's op 31 on this socket are not taken: the replay brings them.
    second.send(authenticated())
    second.send(publication('plain', 'M', {}, 7))
    second.send(subscribed('plain', { pos: { epoch: 'p', seq: 6 } }))
    for (const s of [4, 5, 6, 6, 7]) second.send(publication('plain', 'M', {}, s))
    const again = await second.frame(30)
    expect(again).toMatchObject({ t: 'private', d: { token: 'p' }, x: { since: { epoch: 'q', seq: 0 } } })
    await waitFor('replay and live', () => log.messages.length === 5)
    await delay(20)
    expect(log.messages.map((message) => message.sequence)).toEqual([3, 4, 5, 6, 7])
    expect(log.subscribed.map((info) => info.recovered)).toEqual([true, true])
    expect(withParams.position).toEqual({ epoch: 'q', seq: 0 })
    expect(fresh.position).toBeUndefined()
  })

  it('says when a channel could not be recovered, and goes on from the head', async () => {
    const server = await serve()
    const session = client(server.url)
    const first = await signIn(server, session)
    const sub = session.subscribe('ticker')
    const log = record(sub)
    first.send(subscribed('ticker', { re: (await first.frame(30)).x!.id as number, pos: { epoch: 't', seq: 10 } }))
    await waitFor('subscribed', () => log.subscribed.length === 1)
    first.ws.terminate()
    const second = await server.connection(1)
    expect((await second.frame(2)).x!.ch).toEqual({ ticker: { epoch: 't', seq: 10 } })
    second.send(authenticated())
    second.send(subscribed('ticker', { pos: { epoch: 't2', seq: 40 }, recovered: false, reason: 'epoch-changed' }))
    for (const s of [40, 41]) second.send(publication('ticker', 'TICK', {}, s))
    await waitFor('live after the head', () => log.messages.length === 1)
    expect(log.subscribed[1]).toEqual({ recovered: false, reason: 'epoch-changed', position: { epoch: 't2', seq: 40 } })
    expect(log.messages[0]!.sequence).toBe(41)
  })

  it("shows the server's own subscriptions (op 31 srv) for as long as their connection lasts", async () => {
    const server = await serve()
    const session = client(server.url)
    const first = await signIn(server, session)
    const announced: Subscription[] = []
    const events: string[] = []
    session.on('subscription', (sub) => {
      announced.push(sub)
      sub.on('subscribed', () => events.push(`subscribed ${sub.channel}`))
      sub.on('unsubscribed', (reason) => events.push(`unsubscribed ${sub.channel} ${reason}`))
      sub.on('presence', ({ user, joined }) => events.push(`${user} ${joined ? 'joined' : 'left'}`))
      sub.on('message', (message) => events.push(`message ${message.type}`))
    })
    first.send(subscribed('team', { srv: true, pos: { epoch: 'w', seq: 1 } }))
    first.send({ op: 34, d: { user: 'ada', joined: true }, t: 'team' })
    first.send(publication('team', 'NOTE', {}, 2))
    first.send(subscribed('org', { srv: true }))
    first.send({ op: 33, d: {}, t: 'org', x: { reason: 'removed' } })
    await waitFor('events', () => events.length === 5)
    expect(events).toEqual(['subscribed team', 'ada joined', 'message NOTE', 'subscribed org', 'unsubscribed org removed'])
    expect(announced.map((sub) => [sub.channel, sub.server])).toEqual([
      ['team', true],
      ['org', true],
    ])
    expect([...session.subscriptions.keys()]).toEqual(['team'])
    first.ws.terminate()
    await waitFor('ended with the connection', () => events.length === 6)
    expect(events.at(-1)).toBe('unsubscribed team disconnected')
    expect(session.subscriptions.size).toBe(0)
    // Not renewed by the client: the server subscribes again if it wants to.
    const second = await server.connection(1)
    expect((await second.frame(2)).x!.ch).toEqual({})
  })

  it('ends a subscription the server ends (op 33), and passes presence events on (op 34)', async () => {
    const server = await serve()
    const session = client(server.url)
    const side = await signIn(server, session)
    const sub = session.subscribe('room')
    const log = record(sub)
    const presence: unknown[] = []
    sub.on('presence', (event) => presence.push(event))
    side.send(subscribed('room', { re: (await side.frame(30)).x!.id as number }))
    side.send({ op: 34, d: { user: 'bob', joined: false }, t: 'room' })
    side.send({ op: 33, d: {}, t: 'room', x: { reason: 'revoked' } })
    await waitFor('ended', () => log.unsubscribed.length === 1)
    expect(presence).toEqual([{ user: 'bob', joined: false }])
    expect(log.unsubscribed).toEqual(['revoked'])
    expect(session.subscriptions.size).toBe(0)
    side.ws.terminate()
    const second = await server.connection(1)
    expect((await second.frame(2)).x!.ch).toEqual({})
  })

  it('fails a subscription the server refuses to renew after a reconnect (op 33 with a code)', async () => {
    const server = await serve()
    const session = client(server.url)
    const first = await signIn(server, session)
    const sub = session.subscribe('vip')
    const log = record(sub)
    first.send(subscribed('vip', { re: (await first.frame(30)).x!.id as number }))
    await waitFor('subscribed', () => log.subscribed.length === 1)
    first.ws.terminate()
    const second = await server.connection(1)
    expect((await second.frame(2)).x!.ch).toEqual({ vip: null })
    second.send(authenticated())
    second.send({ op: 33, d: {}, t: 'vip', x: { reason: 'no longer a member', code: 'forbidden' } })
    await waitFor('error', () => log.errors[0])
    expect(log.errors[0]).toMatchObject({ name: 'SubscriptionError', code: 'forbidden', message: 'no longer a member' })
    expect(log.unsubscribed).toEqual([])
    expect(session.subscriptions.size).toBe(0)
  })

  it('fails subscriptions with unsupported against a Mesa 1.x server', async () => {
    const server = await serve({ hello: () => ({ op: 10, d: { rules: [] } }) })
    const session = client(server.url, { autoConnect: false })
    const before = record(session.subscribe('a'))
    await session.connect()
    await waitFor('failed', () => before.errors[0])
    expect(before.errors[0]).toMatchObject({ name: 'SubscriptionError', code: 'unsupported' })
    const after = record(session.subscribe('b'))
    await waitFor('failed', () => after.errors[0])
    expect(after.errors[0]).toMatchObject({ code: 'unsupported' })
    expect(session.subscriptions.size).toBe(0)
    expect(server.sockets[0]!.frames.filter((frame) => frame.op === 30)).toEqual([])
  })
})
