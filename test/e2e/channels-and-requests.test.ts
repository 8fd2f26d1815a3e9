import { Client, type ClientOptions, Message, RequestRejection, type SubscribedInfo, type Subscription } from '@mesa/client-node'
import { MemoryAdapter } from '@mesa/core/server'
import { Dispatcher } from '@mesa/dispatcher'
import { Mesa, type MesaOptions } from '@mesa/server'
import { delay, Scope, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'

/**
 * Channels, requests both ways, acknowledged sends and renewed credentials end to end: `@mesa/client-node` (the
 * session both clients share) against a real `@mesa/server` on 127.0.0.1, links cut under them.
 */

const scope = new Scope()
afterEach(() => scope.cleanup())

/**
 * A server on 127.0.0.1 that authenticates `{ token: 'good:<user>' }` as that user; `ttl` in the data makes the
 * authentication expire that many ms from now. Client-side subscriptions to `room:*` are allowed with the params
 * `{ key: 'open' }`, and on renewals after a reconnect (empty params).
 */
async function server(options: MesaOptions = {}): Promise<{ mesa: Mesa; url: string }> {
  const mesa = new Mesa({ port: 0, host: '127.0.0.1', ...options })
  scope.defer(() => mesa.close())
  mesa.on('connection', (client) => {
    client.authenticate((data, done) => {
      const [kind, user] = String(data.token).split(':')
      if (kind !== 'good' || !user) return done(Object.assign(new Error('bad token'), { expose: true }))
      done(null, { id: user, user: { id: user }, expiresAt: typeof data.ttl === 'number' ? Date.now() + data.ttl : undefined })
    })
  })
  mesa.channels.authorize((_client, channel, params) => channel.startsWith('room:') && (params.key === 'open' || Object.keys(params).length === 0))
  await mesa.listening()
  return { mesa, url: `ws://127.0.0.1:${mesa.port}` }
}

function client(url: string, options?: ClientOptions): Client {
  return scope.add(new Client(url, { backoff: { base: 20, max: 50 }, ...options }), (c) => c.disconnect())
}

/** Cuts the TCP connection of every socket of the server, without a close frame (a dead link). */
function cutLinks(mesa: Mesa): void {
  for (const socket of (mesa as unknown as { clients: { upgradeRequest: { socket: { destroy(): void } } }[] }).clients) {
    socket.upgradeRequest.socket.destroy()
  }
}

/**
 * A server on a `MemoryAdapter` (whose store a test can take down) and ada subscribed there to `room:1`: the numbers
 * `n` of what her subscription delivers, what its `subscribed` events told, and the server's errors.
 */
async function subscribedOnMemory() {
  const adapter = new MemoryAdapter()
  scope.defer(() => adapter.close())
  const { mesa, url } = await server({ adapter })
  const errors: Error[] = []
  mesa.on('error', (error) => void errors.push(error))
  const c = client(url)
  await c.authenticate({ token: 'good:ada' })
  const room = c.subscribe('room:1')
  const seen: unknown[] = []
  const told: SubscribedInfo[] = []
  room.on('message', (message) => seen.push(message.data.n))
  room.on('subscribed', (info) => told.push(info))
  await waitFor('subscribed', () => told.length === 1)
  return { adapter, mesa, c, room, seen, told, errors }
}

describe('channels end to end', () => {
  it('subscribes, gets each publication once, resumes what it missed across a cut link, and unsubscribes', async () => {
    const adapter = new MemoryAdapter()
    scope.defer(() => adapter.close())
    const { mesa, url } = await server({ adapter })
    const c = client(url, { backoff: { base: 60_000, max: 60_000 } })
    await c.authenticate({ token: 'good:ada' })
    const room = c.subscribe('room:1', { params: { key: 'open' } })
    const seen: unknown[] = []
    const subscribed: { recovered: boolean }[] = []
    room.on('message', (message) => seen.push(message.data.n))
    room.on('subscribed', (info) => subscribed.push(info))
    await waitFor('subscribed', () => subscribed.length === 1)
    const refused = c.subscribe('secret:1')
    const refusal = await new Promise<Error>((resolve) => refused.on('error', resolve))
    expect(refusal).toMatchObject({ name: 'SubscriptionError', code: 'forbidden' })

    for (const n of [1, 2]) await mesa.publish('room:1', new Message(0, { n }, 'SAY'))
    await waitFor('live', () => seen.length === 2)
    cutLinks(mesa)
    await waitFor('reconnecting', () => c.state === 'reconnecting')
    for (const n of [3, 4, 5]) await mesa.publish('room:1', new Message(0, { n }, 'SAY'))
    c.reconnectNow()
    await waitFor('resumed', () => seen.length === 5)
    await mesa.publish('room:1', new Message(0, { n: 6 }, 'SAY'))
    await waitFor('live again', () => seen.length === 6)
    expect(seen).toEqual([1, 2, 3, 4, 5, 6])
    expect(subscribed.map((info) => info.recovered)).toEqual([true, true])
    expect(room.position?.seq).toBe(6)

    await room.unsubscribe()
    await mesa.publish('room:1', new Message(0, { n: 7 }, 'SAY'))
    await delay(50)
    expect(seen).toHaveLength(6)
    expect(c.subscriptions.size).toBe(0)
  })

  it('resubscribing while the store cannot be read waits for it: a history the store lost meanwhile is told, never hidden', async () => {
    // The chaos test's failure (test/chaos/channel-chaos.test.ts), reduced: a client came back while Redis was down
    // and was told `recovered: false` without a head; it kept its position, the server checked nothing, and when
    // Redis came back empty the channel's new history (seq 1, 2, 3...) was below that position: dropped unseen.
    const { adapter, mesa, c, room, seen, told, errors } = await subscribedOnMemory()
    for (const n of [1, 2, 3]) await mesa.publish('room:1', new Message(0, { n }, 'SAY'))
    await waitFor('live', () => seen.length === 3)
    const before = room.position!.epoch

    // The store stops answering, and the link is cut: the client resubscribes meanwhile.
    const down = () => Promise.reject(new Error('store down'))
    Object.assign(adapter.store, { head: down, readAfter: down })
    cutLinks(mesa)
    await waitFor('the client back', () => c.state === 'authenticated' && mesa.clients.length === 1)
    await delay(150)
    // It comes back without the channel's history, as a Redis restarted without its data: a new epoch.
    Object.assign(adapter, { store: new MemoryAdapter().store })
    await waitFor('the resubscription answered', () => told.length === 2, 5000)
    for (const n of [4, 5, 6, 7]) await mesa.publish('room:1', new Message(0, { n }, 'SAY'))
    await waitFor('the last publication', () => seen.at(-1) === 7)

    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(told[1]).toEqual({ recovered: false, reason: 'epoch-changed', position: { epoch: expect.any(String), seq: 0 } })
    expect(told[1]!.position!.epoch).not.toBe(before)
    expect(room.position).toEqual({ epoch: told[1]!.position!.epoch, seq: 4 })
    // The outage was reported once, not once per attempt.
    expect(errors.map((error) => error.message)).toEqual(['store down'])
  })

  it('a gap the store cannot fill now waits for the store, then is filled: no close, nothing skipped', async () => {
    const { adapter, c, seen, told, errors } = await subscribedOnMemory()
    const dispatcher = new Dispatcher(adapter, { sync: true })
    await dispatcher.publish('room:1', new Message(0, { n: 1 }, 'SAY'))
    await waitFor('live', () => seen.length === 1)

    // 2 is stored, but its publish fails: the server learns of it from the gap before 3.
    const publish = adapter.publish.bind(adapter)
    adapter.publish = () => Promise.reject(new Error('bus down'))
    await expect(dispatcher.publish('room:1', new Message(0, { n: 2 }, 'SAY'))).rejects.toThrow('bus down')
    adapter.publish = publish
    // And the store cannot be read when 3 arrives (as when Redis is back on pub/sub before the command connection).
    const readAfter = adapter.store.readAfter.bind(adapter.store)
    let failedReads = 0
    adapter.store.readAfter = () => {
      failedReads++
      return Promise.reject(new Error('store down'))
    }
    const closes: number[] = []
    c.on('disconnected', (code) => closes.push(code))
    await dispatcher.publish('room:1', new Message(0, { n: 3 }, 'SAY'))
    await dispatcher.publish('room:1', new Message(0, { n: 4 }, 'SAY'))
    await waitFor('the read tried again', () => failedReads >= 2)
    // Nothing skips the gap meanwhile: 3 and 4 wait behind it.
    expect(seen).toEqual([1])
    adapter.store.readAfter = readAfter
    await waitFor('4', () => seen.includes(4))
    expect(seen).toEqual([1, 2, 3, 4])
    expect(closes).toEqual([])
    expect(told.map((info) => info.recovered)).toEqual([true])
    // The outage was reported once, not once per attempt.
    expect(errors.map((error) => error.name)).toEqual(['StoreError'])
  })

  it("shows the server's own subscriptions and channel presence", async () => {
    const { mesa, url } = await server({ channels: { rules: { 'team:': { joinLeave: true } } } })
    mesa.on('authenticated', (serverClient) => void serverClient.subscribe('team:blue'))
    const ada = client(url)
    const announced: Subscription[] = []
    const events: string[] = []
    ada.on('subscription', (sub) => {
      announced.push(sub)
      sub.on('presence', ({ user, joined }) => events.push(`${user} ${joined ? 'joined' : 'left'}`))
      sub.on('message', (message) => events.push(`message ${message.data.text}`))
    })
    await ada.authenticate({ token: 'good:ada' })
    await waitFor('the server subscription', () => announced.length === 1)
    const bob = client(url)
    await bob.authenticate({ token: 'good:bob' })
    await waitFor('bob joined', () => events.includes('bob joined'))
    await mesa.publish('team:blue', new Message(0, { text: 'standup' }, 'NOTE'))
    bob.disconnect()
    await waitFor('bob left', () => events.includes('bob left'))
    expect(announced[0]).toMatchObject({ channel: 'team:blue', server: true })
    expect(events).toEqual(expect.arrayContaining(['bob joined', 'message standup', 'bob left']))
    await expect(announced[0]!.unsubscribe()).rejects.toMatchObject({ name: 'SubscriptionError', code: 'forbidden' })
  })
})

describe('requests end to end', () => {
  it('asks the server, which answers, refuses with its own code, or has no handler; and the server asks the client', async () => {
    const { mesa, url } = await server()
    mesa.onRequest('ADD', (message) => ({ sum: (message.data.a as number) + (message.data.b as number) }))
    mesa.onRequest('BUY', () => {
      throw new RequestRejection('sold-out', 'none left')
    })
    const c = client(url)
    c.onRequest('CONFIRM', (message) => ({ ok: message.data.question === 'sure?' }))
    await c.authenticate({ token: 'good:ada' })
    const sum = await c.request(new Message(0, { a: 2, b: 3 }, 'ADD'))
    expect(sum).toMatchObject({ type: 'ADD', data: { sum: 5 } })
    await expect(c.request(new Message(0, {}, 'BUY'))).rejects.toMatchObject({ name: 'RequestError', code: 'rejected', rejection: 'sold-out', message: 'none left' })
    await expect(c.request(new Message(0, {}, 'NOBODY'))).rejects.toMatchObject({ code: 'no-handler' })
    const answer = await mesa.clients[0]!.request(new Message(0, { question: 'sure?' }, 'CONFIRM'))
    expect(answer).toMatchObject({ type: 'CONFIRM', data: { ok: true } })
    await expect(mesa.clients[0]!.request(new Message(0, {}, 'UNKNOWN'))).rejects.toMatchObject({ code: 'no-handler' })
  })

  it('fails a request with connection-lost when the link is cut, and does not send it again', async () => {
    const { mesa, url } = await server()
    let handled = 0
    mesa.onRequest('SLOW', async () => {
      handled++
      await delay(300)
      return {}
    })
    const c = client(url)
    await c.authenticate({ token: 'good:ada' })
    const lost = c.request(new Message(0, {}, 'SLOW'))
    await waitFor('handling', () => handled === 1)
    cutLinks(mesa)
    await expect(lost).rejects.toMatchObject({ code: 'connection-lost' })
    await waitFor('back', () => c.state === 'authenticated')
    await delay(400)
    expect(handled).toBe(1)
  })
})

describe('acknowledged sends end to end', () => {
  it('keeps an acknowledged send across a cut link: written again with its id, handled once, acknowledged', async () => {
    const { mesa, url } = await server()
    const handled: unknown[] = []
    mesa.on('message', async (message) => {
      handled.push((message.data as { n?: number }).n)
      // Slow enough that the link is cut before the acknowledgement.
      await delay(200)
    })
    const c = client(url)
    await c.authenticate({ token: 'good:ada' })
    const acked = c.send(new Message(0, { n: 1 }, 'ORDER'), { ack: true })
    await waitFor('handled', () => handled.length === 1)
    cutLinks(mesa)
    c.send(new Message(0, { n: 2 }, 'ORDER'), { ack: true })
    await acked
    await waitFor('second handled', () => handled.length === 2)
    await delay(300)
    expect(handled).toEqual([1, 2])
  })
})

describe('credentials that refresh end to end', () => {
  it('renews an expiring authentication on the open socket with fresh credentials, and reconnects after 4008', async () => {
    // A refused renewal leaves the authentication running until it expires (no 1008).
    const { mesa, url } = await server({ authentication: { refreshBefore: 300, disconnectOnFail: false } })
    let calls = 0
    // Authentications last 500 ms. The first renewal gets good credentials; the second a token the server refuses,
    // so the authentication runs out (4008), and the reconnect gets a good one again.
    const tokens = ['good:ada', 'good:ada', 'bad', 'good:ada']
    const c = client(url, { getCredentials: () => ({ token: tokens[calls++] ?? 'good:ada', ttl: 500 }) })
    const errors: Error[] = []
    c.on('error', (error) => errors.push(error))
    const closes: number[] = []
    c.on('disconnected', (code) => closes.push(code))
    await c.authenticate()
    const sub = c.subscribe('room:2')
    await new Promise((resolve) => sub.on('subscribed', resolve))
    // The first renewal keeps the socket past the first expiry; the second is refused and told.
    await waitFor('refused', () => errors[0], 5000)
    expect(calls).toBe(3)
    expect(closes).toEqual([])
    expect(errors[0]).toMatchObject({ name: 'AuthenticationError', code: 'rejected' })
    // Then the expiry closes the socket, and the client comes back with fresh credentials, its subscription renewed.
    await waitFor('closed at the expiry', () => closes.length === 1, 5000)
    expect(closes[0]).toBe(4008)
    await waitFor('back', () => c.state === 'authenticated' && calls === 4, 5000)
    expect(mesa.clients).toHaveLength(1)
    await mesa.publish('room:2', new Message(0, { n: 1 }, 'SAY'))
    await new Promise((resolve) => sub.on('message', resolve))
  })
})
