import { channelStream, type Envelope, type PublicationEnvelope } from '@mesa/core/server'
import { afterEach, describe, expect, it } from 'vitest'
import { Scope, waitFor } from '@mesa/test-kit'
import { API_KEY, callApi, gatewayInProcess, hs256Token, JWT_SECRET, received, recordingClient } from './support.js'

describe('gateway HTTP API', () => {
  const scope = new Scope()
  afterEach(() => scope.cleanup())

  async function setup(options: Parameters<typeof gatewayInProcess>[1] = {}) {
    const started = await gatewayInProcess(scope, { jwt: { secret: JWT_SECRET }, apiKey: API_KEY, ...options })
    const user = async (id: string) => {
      const client = recordingClient(scope, started.ws)
      await client.client.authenticate({ token: await hs256Token(id) })
      return client
    }
    return { ...started, url: started.gateway.url, user }
  }

  it('takes the API key as a bearer token only; without a configured key the API is off', async () => {
    const { url } = await setup()
    expect(await callApi(url, 'presence', {}, null)).toMatchObject({
      status: 401,
      body: { error: { code: 'unauthorized', message: 'send the API key as Authorization: Bearer <key>' } },
    })
    expect((await callApi(url, 'presence', {}, null)).headers.get('www-authenticate')).toBe('Bearer')
    expect((await callApi(url, 'presence', {}, `${API_KEY}x`)).status).toBe(401)
    expect((await callApi(url, 'presence', {}, API_KEY.slice(1))).status).toBe(401)
    const query = await fetch(`${url}/api/presence?key=${API_KEY}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    expect(query.status).toBe(401)
    expect((await callApi(url, 'presence', {})).status).toBe(200)

    const bare = await gatewayInProcess(scope, { jwt: { secret: JWT_SECRET } })
    expect(await callApi(bare.gateway.url, 'send', {}, API_KEY)).toMatchObject({ status: 403, body: { error: { code: 'api-disabled' } } })
  })

  it('answers malformed requests with typed errors and fitting statuses', async () => {
    const { url } = await setup({ limits: { maxRequestBody: 256 } })
    const post = (path: string, body: string, type = 'application/json') =>
      fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': type, authorization: `Bearer ${API_KEY}` }, body })
    const error = async (response: Response) => ({ status: response.status, code: ((await response.json()) as { error: { code: string } }).error.code })

    expect(await error(await post('/api/send', '{}', 'text/plain'))).toEqual({ status: 415, code: 'unsupported-media-type' })
    expect(await error(await post('/api/send', JSON.stringify({ recipients: ['a'], type: 'T', data: { text: 'x'.repeat(300) } })))).toEqual({
      status: 413,
      code: 'payload-too-large',
    })
    expect(await error(await post('/api/send', '{"recipients":'))).toEqual({ status: 400, code: 'invalid-json' })
    expect(await error(await post('/api/send', '[]'))).toEqual({ status: 400, code: 'invalid-request' })
    expect(await error(await post('/api/nope', '{}'))).toEqual({ status: 404, code: 'not-found' })
    const get = await fetch(`${url}/api/send`, { headers: { authorization: `Bearer ${API_KEY}` } })
    expect(get.headers.get('allow')).toBe('POST')
    expect(await error(get)).toEqual({ status: 405, code: 'method-not-allowed' })

    // The Dispatcher's own messages are its to word: only their code is checked here.
    const dispatcher = expect.any(String) as unknown as string
    const invalid: [string, unknown, string, string][] = [
      ['send', { type: 'T' }, 'invalid-request', '"recipients" must be an array of user ids (non-empty strings)'],
      ['send', { recipients: ['a', ''], type: 'T' }, 'invalid-request', '"recipients" must be an array of user ids (non-empty strings)'],
      ['send', { recipients: ['a'] }, 'invalid-request', '"type" must be a message type name (a string of 1-256 characters)'],
      ['send', { recipients: ['a'], type: 'T', data: [1] }, 'invalid-request', '"data" must be a JSON object'],
      ['send', { recipients: ['a'], type: 'T', sync: 'yes' }, 'invalid-request', '"sync" must be true or false'],
      ['broadcast', { type: 'T', excluding: 'a' }, 'invalid-request', '"excluding" must be an array of user ids (non-empty strings)'],
      ['disconnect', { users: ['*'] }, 'invalid-recipients', dispatcher],
      ['disconnect', { users: ['a'], code: 1006 }, 'invalid-event', dispatcher],
      ['disconnect', { users: ['a'], reason: 'r'.repeat(124) }, 'invalid-event', dispatcher],
      ['history', { after: { epoch: '', seq: 1 } }, 'invalid-request', '"after" must be a position: { "epoch": string, "seq": integer >= 0 }'],
      ['history', { limit: 0 }, 'invalid-request', '"limit" must be an integer from 1 to 1000'],
    ]
    for (const [name, body, code, message] of invalid) {
      expect(await callApi(url, name, body), `${name} ${JSON.stringify(body)}`).toMatchObject({ status: 400, body: { error: { code, message } } })
    }
  })

  it('send, broadcast and disconnect with the Dispatcher semantics', async () => {
    const { url, ws, user } = await setup({ authentication: { required: false } })
    const ada = await user('ada')
    const bo = await user('bo')
    const anonymous = recordingClient(scope, ws)
    await anonymous.client.connect()

    expect(await callApi(url, 'send', { recipients: ['ada', 'bo'], excluding: ['bo'], type: 'NOTE', data: { n: 1 } })).toMatchObject({
      status: 200,
      body: { ok: true },
    })
    expect(await received(ada, 'NOTE')).toEqual({ n: 1 })
    expect((await callApi(url, 'broadcast', { type: 'NEWS', data: { n: 2 }, excluding: ['ada'] })).status).toBe(200)
    expect(await received(bo, 'NEWS')).toEqual({ n: 2 })
    // Broadcasts go to authenticated users, as the Dispatcher's ['*'].
    expect((await callApi(url, 'broadcast', { type: 'LAST' })).status).toBe(200)
    await received(ada, 'LAST')
    await received(bo, 'LAST')
    expect(bo.messages.map((message) => message.type)).toEqual(['NEWS', 'LAST'])
    expect(ada.messages.map((message) => message.type)).toEqual(['NOTE', 'LAST'])
    expect(anonymous.messages).toEqual([])

    expect((await callApi(url, 'disconnect', { users: ['ada'] })).status).toBe(200)
    await waitFor('ada to be disconnected', () => ada.closes.length > 0)
    expect(ada.closes).toEqual([4004])
    expect((await callApi(url, 'disconnect', { users: ['bo'], code: 4100, reason: 'moved' })).status).toBe(200)
    await waitFor('bo to be disconnected', () => bo.closes.length > 0)
    expect(bo.closes[0]).toBe(4100)
  })

  it('stores synced sends: a user who was offline gets them when resuming, once and in order; sync: false ones are not stored', async () => {
    const { url, ws, user } = await setup()
    const before = await user('ada')
    const positions = before.client.positions
    before.client.disconnect()
    for (const n of [1, 2]) expect((await callApi(url, 'send', { recipients: ['ada'], type: 'MISSED', data: { n } })).status).toBe(200)
    expect((await callApi(url, 'send', { recipients: ['ada'], type: 'TYPING', sync: false })).status).toBe(200)
    const after = recordingClient(scope, ws, { positions })
    await after.client.authenticate({ token: await hs256Token('ada') })
    await waitFor('both missed messages', () => after.messages.length >= 2)
    expect(after.messages.map((message) => [message.type, message.data])).toEqual([
      ['MISSED', { n: 1 }],
      ['MISSED', { n: 2 }],
    ])
  })

  it('presence: who is online and how many', async () => {
    const { url, user } = await setup()
    await user('ada')
    await user('ada')
    await user('bo')
    expect(await callApi(url, 'presence', { users: ['ada', 'bo', 'cy'] })).toMatchObject({
      status: 200,
      body: { online: { ada: true, bo: true, cy: false }, count: 2 },
    })
    expect((await callApi(url, 'presence', {})).body).toEqual({ online: {}, count: 2 })
  })

  it('history: a user stream or the global one, after a position, paged by limit', async () => {
    const { url } = await setup()
    for (const n of [1, 2, 3]) await callApi(url, 'send', { recipients: ['ada'], type: 'N', data: { n } })
    await callApi(url, 'broadcast', { type: 'B', data: { all: true } })

    const all = await callApi(url, 'history', { user: 'ada' })
    expect(all.status).toBe(200)
    const head = all.body.head as { epoch: string; seq: number }
    expect(all.body).toMatchObject({ stream: 'user:ada', status: 'ok', head: { seq: 3 } })
    expect((all.body.messages as { data: unknown }[]).map((message) => message.data)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    expect(all.body.messages).toContainEqual({ seq: 1, time: expect.any(Number), type: 'N', data: { n: 1 } })

    const page = await callApi(url, 'history', { user: 'ada', after: { epoch: head.epoch, seq: 1 }, limit: 1 })
    expect(page.body).toMatchObject({ status: 'ok', messages: [{ seq: 2, data: { n: 2 } }] })
    const elsewhere = await callApi(url, 'history', { user: 'ada', after: { epoch: 'another-epoch', seq: 1 } })
    expect(elsewhere.body).toMatchObject({ status: 'epoch-changed', head, messages: [] })
    expect((await callApi(url, 'history', {})).body).toMatchObject({ stream: 'global', status: 'ok', messages: [{ seq: 1, type: 'B', data: { all: true } }] })
  })
})

describe('gateway HTTP API: channels', () => {
  const scope = new Scope()
  afterEach(() => scope.cleanup())

  async function setup(options: Parameters<typeof gatewayInProcess>[1] = {}) {
    const { gateway } = await gatewayInProcess(scope, { jwt: { secret: JWT_SECRET }, apiKey: API_KEY, ...options })
    // What a server following the channels sees on the gateway's adapter.
    const envelopes: Envelope[] = []
    await gateway.adapter.subscribe('another-server', (envelope) => envelopes.push(envelope))
    await gateway.adapter.follow('another-server', ['room:1'])
    const get = async (path: string, method = 'GET') => {
      const response = await fetch(`${gateway.url}/api/channels/${path}`, { method, headers: { authorization: `Bearer ${API_KEY}` } })
      return { status: response.status, body: (await response.json()) as Record<string, unknown> }
    }
    return { gateway, url: gateway.url, envelopes, get }
  }

  it('publish: through the Dispatcher, stored once in the channel stream with sync, to servers following it', async () => {
    const { url, envelopes, gateway } = await setup()
    expect(await callApi(url, 'publish', { channel: 'room:1', type: 'CHAT', data: { text: 'hi' } })).toMatchObject({ status: 200, body: { ok: true } })
    expect((await callApi(url, 'publish', { channel: 'room:1', type: 'TYPING', sync: false })).status).toBe(200)
    await waitFor('both publications', () => envelopes.length === 2)
    expect(envelopes[0]).toMatchObject({ kind: 'publication', channel: 'room:1', frame: '{"op":0,"d":{"text":"hi"},"t":"CHAT"}', position: { seq: 1 } })
    expect((envelopes[1] as PublicationEnvelope).position).toBeUndefined()
    expect((await gateway.adapter.store.head(channelStream('room:1'))).seq).toBe(1)
  })

  it('subscribe and unsubscribe users: kept per user in the adapter and announced to every server', async () => {
    const { url, envelopes, gateway } = await setup({ channels: { maxPerUser: 1 } })
    expect(await callApi(url, 'subscribe', { users: ['ada', 'bo'], channel: 'room:2' })).toMatchObject({ status: 200, body: { ok: true } })
    expect(await gateway.adapter.userChannels.channelsOf('bo')).toEqual(['room:2'])
    expect(await callApi(url, 'subscribe', { users: ['cy', 'ada'], channel: 'room:3' })).toEqual({
      status: 409,
      headers: expect.anything(),
      body: { error: { code: 'too-many-channels', message: expect.stringContaining('"ada"'), users: ['ada'] } },
    })
    expect(await callApi(url, 'unsubscribe', { users: ['ada'], channel: 'room:2' })).toMatchObject({ status: 200 })
    expect(await gateway.adapter.userChannels.channelsOf('ada')).toEqual([])
    await waitFor('three subscription envelopes', () => envelopes.length === 3)
    expect(envelopes.map((envelope) => envelope.kind === 'subscription' && [envelope.userIds, envelope.channel, envelope.subscribe])).toEqual([
      [['ada', 'bo'], 'room:2', true],
      [['cy'], 'room:3', true],
      [['ada'], 'room:2', false],
    ])
  })

  it('refuses bad channels and users with typed errors', async () => {
    const { url, get } = await setup()
    const invalid: [string, unknown, string][] = [
      ['publish', { channel: 'has space', type: 'T' }, 'invalid-channel'],
      ['publish', { type: 'T' }, 'invalid-channel'],
      ['publish', { channel: 'room:1' }, 'invalid-request'],
      ['subscribe', { users: ['*'], channel: 'room:1' }, 'invalid-recipients'],
      ['subscribe', { users: 'ada', channel: 'room:1' }, 'invalid-request'],
      ['unsubscribe', { users: ['ada'], channel: 'x'.repeat(257) }, 'invalid-channel'],
    ]
    for (const [name, body, code] of invalid) {
      expect(await callApi(url, name, body), `${name} ${JSON.stringify(body)}`).toMatchObject({ status: 400, body: { error: { code } } })
    }
    expect(await get('bad%20name/presence')).toMatchObject({ status: 400, body: { error: { code: 'invalid-channel' } } })
    expect(await get('%E0%A4%A/presence')).toMatchObject({ status: 400, body: { error: { code: 'invalid-channel' } } })
    expect(await get('room:1/members')).toMatchObject({ status: 404, body: { error: { code: 'not-found' } } })
    expect(await get('/presence')).toMatchObject({ status: 404 })
    expect(await get('room:1/constructor')).toMatchObject({ status: 404 })
    expect(await get('room:1/presence', 'POST')).toMatchObject({ status: 405, body: { error: { code: 'method-not-allowed' } } })
    expect((await callApi(url, 'constructor', {})).status).toBe(404)
    for (const query of ['limit=0', 'limit=1001', 'limit=ten', 'after=12', 'after=:3', 'after=e:-1', 'after=e:1.5']) {
      expect(await get(`room:1/history?${query}`), query).toMatchObject({ status: 400, body: { error: { code: 'invalid-request' } } })
    }
    // Without the key, nothing.
    expect((await fetch(`${url}/api/channels/room:1/presence`)).status).toBe(401)
  })

  it('presence: the distinct users subscribed to a channel across the namespace', async () => {
    const { gateway, get } = await setup()
    // The servers record their sockets' subscriptions in the adapter's presence.
    await gateway.adapter.presence.joinChannel('news/eu', 'ada', 'socket-1')
    await gateway.adapter.presence.joinChannel('news/eu', 'ada', 'socket-2')
    await gateway.adapter.presence.joinChannel('news/eu', 'bo', 'socket-3')
    const { status, body } = await get('news/eu/presence')
    expect(status).toBe(200)
    expect({ ...body, users: (body.users as string[]).sort() }).toEqual({ channel: 'news/eu', users: ['ada', 'bo'], count: 2 })
    // The name URL-encoded reads the same channel.
    expect((await get('news%2Feu/presence')).body.count).toBe(2)
    expect((await get('empty/presence')).body).toEqual({ channel: 'empty', users: [], count: 0 })
  })

  it('history: the newest publications, or those after a position, oldest first', async () => {
    const { url, get } = await setup()
    for (const n of [1, 2, 3, 4]) await callApi(url, 'publish', { channel: 'room:1', type: 'N', data: { n } })
    const newest = await get('room:1/history?limit=2')
    expect(newest.status).toBe(200)
    expect(newest.body).toMatchObject({ channel: 'room:1', status: 'ok', head: { seq: 4 } })
    expect((newest.body.messages as { seq: number; data: unknown }[]).map(({ seq, data }) => [seq, data])).toEqual([
      [3, { n: 3 }],
      [4, { n: 4 }],
    ])
    const { epoch } = newest.body.head as { epoch: string }
    const page = await get(`room:1/history?after=${epoch}:1&limit=2`)
    expect(page.body).toMatchObject({ status: 'ok', messages: [{ seq: 2, type: 'N', data: { n: 2 }, time: expect.any(Number) }, { seq: 3 }] })
    expect((await get('room:1/history')).body.messages).toHaveLength(4)
    expect((await get('room:1/history?after=another-epoch:1')).body).toMatchObject({ status: 'epoch-changed', messages: [] })
    expect((await get('quiet/history')).body).toMatchObject({ channel: 'quiet', status: 'ok', head: { seq: 0 }, messages: [] })
  })
})
