import { StoreError } from '@mesa/core'
import { MemoryAdapter } from '@mesa/core/server'
import {
  channelFrames,
  delay,
  publications,
  rejectionOf,
  subscribe,
  unsubscribe,
  waitForChannelFrame,
  waitForPublications,
  waitFor,
} from '@mesa/test-kit'
import { describe, expect, it } from 'vitest'
import {
  type AuthorizeHook,
  ChannelError,
  CloseCode,
  Message,
  type Mesa,
  type MesaOptions,
  type ServerClient,
  type ServerError,
} from '../src/index.js'
import { acceptIds, connect, startServer, user } from './helpers.js'

/** A server that accepts `{ id }` as user `id` and authorizes every subscription (unless told otherwise). */
async function channelServer(options: MesaOptions = {}, hook: AuthorizeHook<ServerClient> | null = () => true) {
  const started = await startServer(options)
  acceptIds(started.mesa)
  if (hook) started.mesa.channels.authorize(hook)
  return started
}

const publish = (mesa: Mesa, channel: string, n: number, type = 'M'): Promise<void> =>
  mesa.publish(channel, new Message(0, { n }, type))

function errorCodes(mesa: Mesa): string[] {
  const codes: string[] = []
  mesa.on('error', (error) => void codes.push((error as { code?: string }).code ?? error.name))
  return codes
}

describe('subscribing (op 30, 31, 32, 41)', () => {
  it('refuses client-side subscriptions without an authorize hook (forbidden)', async () => {
    const { url } = await channelServer({}, null)
    const client = await user(url, 'ada', true)
    const answer = await subscribe(client, 'news')
    expect(answer).toMatchObject({ op: 41, d: {}, x: { re: 1, err: { code: 'forbidden', message: expect.any(String) } } })
  })

  it('answers op 31 with the head, gets publications, unsubscribes with op 41, and then gets none', async () => {
    const { mesa, url } = await channelServer()
    const client = await user(url, 'ada', true)
    expect(await subscribe(client, 'news')).toEqual({
      op: 31,
      t: 'news',
      d: {},
      x: { re: 1, pos: { epoch: expect.any(String), seq: 0 }, recovered: true },
    })
    expect(mesa.clients[0]!.channels).toEqual(['news'])
    await publish(mesa, 'news', 1)
    const [first] = await waitForPublications(client, 'news', 1)
    expect(first).toEqual({ op: 0, t: 'M', d: { n: 1 }, s: 1, x: { ch: 'news' } })
    expect(await unsubscribe(client, 'news')).toEqual({ op: 41, d: {}, x: { re: 2 } })
    expect(mesa.clients[0]!.channels).toEqual([])
    await publish(mesa, 'news', 2)
    await delay(30)
    expect(publications(client, 'news')).toHaveLength(1)
    const again = await unsubscribe(client, 'news')
    expect(again.x).toMatchObject({ re: 3, err: { code: 'not-subscribed' } })
  })

  it('refuses a second subscription to the same channel (already-subscribed)', async () => {
    const { url } = await channelServer()
    const client = await user(url, 'ada', true)
    await subscribe(client, 'news')
    expect((await subscribe(client, 'news')).x).toMatchObject({ re: 2, err: { code: 'already-subscribed' } })
  })

  it('gives the hook the client, the channel and the params; async verdicts count', async () => {
    const seen: unknown[] = []
    const { url } = await channelServer({}, async (client, channel, params) => {
      seen.push([client.userId, channel, params])
      await delay(5)
      return params.token === 'ok'
    })
    const client = await user(url, 'ada', true)
    expect((await subscribe(client, 'room:1', { params: { token: 'ok' } })).op).toBe(31)
    const refused = await subscribe(client, 'room:2', { params: { token: 'no' } })
    expect(refused.x).toEqual({ re: 2, err: { code: 'forbidden', message: 'subscription refused' } })
    expect(seen).toEqual([
      ['ada', 'room:1', { token: 'ok' }],
      ['ada', 'room:2', { token: 'no' }],
    ])
  })

  it('tells the client the message of an exposed error only; a failing hook is reported, the server goes on', async () => {
    const { mesa, url } = await channelServer({}, (_client, channel) => {
      if (channel === 'exposed') throw Object.assign(new Error('members only'), { expose: true })
      if (channel === 'throws') throw new Error('pg: connect ECONNREFUSED 10.1.2.3:5432')
      if (channel === 'rejects') return Promise.reject(new Error('redis down'))
      if (channel === 'odd') return 'yes' as unknown as boolean
      return { presence: false }
    })
    const reported: Error[] = []
    mesa.on('error', (error) => void reported.push(error))
    const client = await user(url, 'ada', true)
    expect((await subscribe(client, 'exposed')).x!.err).toEqual({ code: 'forbidden', message: 'members only' })
    for (const channel of ['throws', 'rejects', 'odd']) {
      expect((await subscribe(client, channel)).x!.err).toEqual({ code: 'forbidden', message: 'subscription refused' })
    }
    expect((await subscribe(client, 'fine')).op).toBe(31)
    expect(reported.map((error) => (error as ServerError).code)).toEqual(['handler-failed', 'handler-failed', 'handler-failed'])
    expect(reported.map((error) => String((error.cause as Error | undefined)?.message))).toEqual([
      'pg: connect ECONNREFUSED 10.1.2.3:5432',
      'redis down',
      'undefined',
    ])
    expect(client.isOpen).toBe(true)
  })

  it('waits for an authentication in progress: op 30 pipelined right after op 2 is authorized as that user', async () => {
    const { mesa, url } = await startServer()
    mesa.on('connection', (client) =>
      client.authenticate(async (data, done) => {
        await delay(30)
        done(null, { id: String(data.id), user: {} })
      }),
    )
    mesa.channels.authorize((client) => client.userId === 'ada')
    const client = await connect(url, { v2: true })
    const authenticated = client.authenticate({ id: 'ada' })
    const answer = await subscribe(client, 'news')
    await authenticated
    expect(answer.op).toBe(31)
  })

  it('with authentication.required, refuses unauthenticated sockets without asking the hook', async () => {
    let asked = 0
    const { url } = await channelServer({ authentication: { required: true } }, () => {
      asked++
      return true
    })
    const client = await connect(url, { v2: true })
    expect((await subscribe(client, 'news')).x!.err).toMatchObject({ code: 'forbidden' })
    expect(asked).toBe(0)
  })

  it('refuses bad names (invalid-channel), more than maxPerConnection (too-many-channels) and floods (rate-limited)', async () => {
    const { mesa, url } = await channelServer({ channels: { maxPerConnection: 3, subscribeRate: { perSecond: 1, burst: 3 } } })
    const client = await user(url, 'ada', true)
    // (A `t` longer than 256 characters is no frame at all: closed with 4000, like any op.)
    for (const name of ['', 'room 1', 'ümlaut', 'a\u0000b', 'a"b']) {
      expect((await subscribe(client, name)).x!.err).toMatchObject({ code: 'invalid-channel' })
    }
    for (const channel of ['a', 'b', 'c']) expect((await subscribe(client, channel)).op).toBe(31)
    expect((await subscribe(client, 'd')).x!.err).toMatchObject({ code: 'too-many-channels' })
    await unsubscribe(client, 'a')
    // Three subscriptions took the burst (names and the limit are checked first: refused ones took nothing).
    expect((await subscribe(client, 'e')).x!.err).toMatchObject({ code: 'rate-limited' })
    expect(mesa.stats.rateLimited).toBe(1)
    expect(client.isOpen).toBe(true)
  })

  it('closes a 1.x socket sending op 30 (4001) and a v2 socket sending op 30 without x.id or with a bad x.since (4000)', async () => {
    const { mesa, url } = await channelServer()
    const codes = errorCodes(mesa)
    const legacy = await user(url, 'old')
    legacy.send({ op: 30, t: 'news', d: {}, x: { id: 1 } })
    expect((await legacy.waitClose()).code).toBe(CloseCode.UnknownOpcode)
    const noId = await user(url, 'v2', true)
    noId.send({ op: 30, t: 'news', d: {} })
    expect((await noId.waitClose()).code).toBe(CloseCode.InvalidFrame)
    const badSince = await user(url, 'v2', true)
    badSince.send({ op: 30, t: 'news', d: {}, x: { id: 1, since: { epoch: 5 } } })
    expect((await badSince.waitClose()).code).toBe(CloseCode.InvalidFrame)
    expect(codes).toEqual(['unknown-opcode', 'invalid-frame', 'invalid-frame'])
  })

  it('announces subscribe and unsubscribe (events, middleware, portal), also when the socket closes', async () => {
    const adapter = new MemoryAdapter()
    const { mesa, url } = await channelServer({ adapter, portal: { enabled: true } })
    const seen: string[] = []
    mesa.on('subscribe', (channel, client) => void seen.push(`event subscribe ${channel} ${client.userId}`))
    mesa.on('unsubscribe', (channel, client) => void seen.push(`event unsubscribe ${channel} ${client.userId}`))
    mesa.use(() => ({
      onSubscribe: (client, channel) => void seen.push(`hook subscribe ${channel} ${client.userId}`),
      onUnsubscribe: (client, channel) => void seen.push(`hook unsubscribe ${channel} ${client.userId}`),
    }))
    const events: { kind: string; channel?: string; userId?: string; serverId: string }[] = []
    const consumer = await adapter.portal.consume({ consumerId: 'test-portal' }, (event) => {
      if (event.kind === 'subscribe' || event.kind === 'unsubscribe') events.push(event)
    })
    try {
      const client = await user(url, 'ada', true)
      await subscribe(client, 'a')
      await subscribe(client, 'b')
      await unsubscribe(client, 'a')
      client.close()
      await client.waitClose()
      await waitFor('four portal events', () => events.length === 4)
      expect(events.map(({ kind, channel, userId, serverId }) => [kind, channel, userId, serverId === mesa.id])).toEqual([
        ['subscribe', 'a', 'ada', true],
        ['subscribe', 'b', 'ada', true],
        ['unsubscribe', 'a', 'ada', true],
        ['unsubscribe', 'b', 'ada', true],
      ])
      expect(seen).toEqual([
        'event subscribe a ada',
        'hook subscribe a ada',
        'event subscribe b ada',
        'hook subscribe b ada',
        'event unsubscribe a ada',
        'hook unsubscribe a ada',
        'event unsubscribe b ada',
        'hook unsubscribe b ada',
      ])
    } finally {
      await consumer.close()
    }
  })
})

describe('a subscription that ends while it is set up', () => {
  it('op 32 during a slow hook: op 30 fails with unavailable, op 32 succeeds, nothing is left behind', async () => {
    const adapter = new MemoryAdapter()
    let allow: (() => void) | undefined
    const { mesa, url } = await channelServer({ adapter }, () => new Promise<boolean>((resolve) => (allow = () => resolve(true))))
    const client = await user(url, 'ada', true)
    const subscribing = subscribe(client, 'news')
    await waitFor('the hook to be asked', () => allow !== undefined)
    expect(await unsubscribe(client, 'news')).toEqual({ op: 41, d: {}, x: { re: 2 } })
    allow!()
    expect((await subscribing).x).toMatchObject({ re: 1, err: { code: 'unavailable' } })
    await publish(mesa, 'news', 1)
    await delay(20)
    expect(client.messages).toEqual([])
    expect(mesa.stats.channels).toMatchObject({ subscriptions: 0, followed: 0 })
  })

  it('a socket closing while its subscriptions are set up leaves no follow, presence or subscription behind', async () => {
    const adapter = new MemoryAdapter()
    const { mesa, url } = await channelServer({ adapter, channels: { rules: { '': { presence: true } } } }, async () => {
      await delay(20)
      return true
    })
    const client = await user(url, 'ada', true)
    const answers = ['a', 'b', 'c'].map((channel) => subscribe(client, channel).catch(() => undefined))
    client.terminate()
    await Promise.all(answers)
    await waitFor('the server to see the close', () => mesa.connectionCount === 0)
    await delay(40)
    expect(mesa.stats.channels).toMatchObject({ subscriptions: 0, followed: 0 })
    for (const channel of ['a', 'b', 'c']) expect(await mesa.presence(channel)).toEqual({ users: [], count: 0 })
  })
})

describe('authenticating again', () => {
  it('as another user ends what the client subscribed to (op 33), keeps what the server subscribed it to', async () => {
    const { mesa, url } = await channelServer()
    const client = await user(url, 'ada', true)
    await subscribe(client, 'ada-only')
    await mesa.clients[0]!.subscribe('server-side')
    await client.authenticate({ id: 'ada' })
    expect(mesa.clients[0]!.channels.sort()).toEqual(['ada-only', 'server-side'])
    await client.authenticate({ id: 'bob' })
    expect((await waitForChannelFrame(client, 33, 'ada-only')).x).toEqual({ reason: 'authenticated as another user' })
    expect(mesa.clients[0]!.channels).toEqual(['server-side'])
  })
})

describe('publishing', () => {
  it('writes a publication to the channel subscribers only, on every protocol, each once', async () => {
    const { mesa, url } = await channelServer()
    const [a, b, outsider] = await Promise.all([user(url, 'a', true), user(url, 'b', true), user(url, 'c', true)])
    await subscribe(a, 'news')
    await subscribe(b, 'news')
    await subscribe(outsider, 'sports')
    const legacy = await user(url, 'old')
    await mesa.clients.find((client) => client.userId === 'old')!.subscribe('news')
    for (let n = 1; n <= 3; n++) await publish(mesa, 'news', n)
    for (const client of [a, b]) {
      expect((await waitForPublications(client, 'news', 3)).map((f) => [f.d.n, f.s])).toEqual([
        [1, 1],
        [2, 2],
        [3, 3],
      ])
    }
    // Mesa 1.x: plain op 0 frames, no `s`, no `x`.
    expect(await legacy.waitForMessages(3)).toEqual([1, 2, 3].map((n) => ({ op: 0, t: 'M', d: { n } })))
    await delay(30)
    expect(outsider.messages).toEqual([])
    expect(mesa.stats.channels).toMatchObject({ subscriptions: 4, followed: 2, published: 3 })
  })

  it('does not store what the rule keeps no history for, nor unsynced publications: no s', async () => {
    const adapter = new MemoryAdapter()
    const { mesa, url } = await channelServer({ adapter, channels: { rules: { 'typing:': { history: false } } } })
    const client = await user(url, 'a', true)
    const answer = await subscribe(client, 'typing:1')
    expect(answer.x).toEqual({ re: 1, recovered: true })
    await subscribe(client, 'news')
    await publish(mesa, 'typing:1', 1)
    await mesa.publish('news', new Message(0, { n: 2 }, 'M', { sync: false }))
    await waitForPublications(client, 'typing:1', 1)
    await waitForPublications(client, 'news', 1)
    expect(channelFrames(client, 0, 'typing:1')).toEqual([{ op: 0, t: 'M', d: { n: 1 }, x: { ch: 'typing:1' } }])
    expect(channelFrames(client, 0, 'news')).toEqual([{ op: 0, t: 'M', d: { n: 2 }, o: { sync: false }, x: { ch: 'news' } }])
    expect((await adapter.store.head('channel:typing:1')).seq).toBe(0)
    expect((await adapter.store.head('channel:news')).seq).toBe(0)
  })

  it('rejects bad channels, bad messages and a failing store with typed errors, and delivers nothing then', async () => {
    const adapter = new MemoryAdapter()
    const { mesa, url } = await channelServer({ adapter })
    errorCodes(mesa)
    const client = await user(url, 'a', true)
    await subscribe(client, 'news')
    const invalid = await rejectionOf('a bad name', mesa.publish('bad name', new Message(0, {}, 'M')))
    expect(invalid).toBeInstanceOf(ChannelError)
    expect(invalid).toMatchObject({ code: 'invalid-channel' })
    expect(await rejectionOf('not a message', mesa.publish('news', { not: 'a message' } as never))).toMatchObject({
      code: 'invalid-message',
    })
    expect(await rejectionOf('op 5', mesa.publish('news', new Message(5, {}, 'DISCONNECT_CLIENT') as never))).toMatchObject({
      code: 'invalid-message',
    })
    adapter.store.append = () => Promise.reject(new Error('store down'))
    expect(await rejectionOf('a failing store', publish(mesa, 'news', 1))).toBeInstanceOf(StoreError)
    expect(await rejectionOf('a too long name', publish(mesa, 'x'.repeat(257), 1))).toMatchObject({ code: 'invalid-channel' })
    expect(mesa.stats.sendFailures).toBe(5)
    await delay(30)
    expect(publications(client, 'news')).toEqual([])
  })
})

describe('server-side subscriptions', () => {
  it('client.subscribe(): op 31 with srv for v2, publications follow; client.unsubscribe(): op 33; the client may not end it', async () => {
    const { mesa, url } = await channelServer({}, null)
    mesa.on('authenticated', (client) => void client.subscribe('user-feed'))
    const client = await user(url, 'ada', true)
    const subscribed = await waitForChannelFrame(client, 31, 'user-feed')
    expect(subscribed.x).toEqual({ pos: { epoch: expect.any(String), seq: 0 }, recovered: true, srv: true })
    await publish(mesa, 'user-feed', 1)
    await waitForPublications(client, 'user-feed', 1)
    expect((await unsubscribe(client, 'user-feed')).x!.err).toMatchObject({ code: 'forbidden' })
    const serverSide = mesa.clients[0]!
    await serverSide.subscribe('user-feed')
    expect(serverSide.channels).toEqual(['user-feed'])
    serverSide.unsubscribe('user-feed')
    expect(await waitForChannelFrame(client, 33, 'user-feed')).toEqual({
      op: 33,
      t: 'user-feed',
      d: {},
      x: { reason: 'unsubscribed by the server' },
    })
    await publish(mesa, 'user-feed', 2)
    await delay(30)
    expect(publications(client, 'user-feed')).toHaveLength(1)
    expect(() => serverSide.unsubscribe('no good')).toThrow(ChannelError)
  })

  it('client.subscribe() rejects with ChannelError for bad names and over the limit (also reported)', async () => {
    const { mesa, url } = await channelServer({ channels: { maxPerConnection: 1 } })
    const codes = errorCodes(mesa)
    await user(url, 'ada', true)
    const client = mesa.clients[0]!
    expect(await rejectionOf('a bad name', client.subscribe('bad name'))).toMatchObject({ code: 'invalid-channel' })
    await client.subscribe('one')
    expect(await rejectionOf('one too many', client.subscribe('two'))).toMatchObject({ code: 'too-many-channels' })
    expect(codes).toEqual(['invalid-channel', 'too-many-channels'])
  })
})
