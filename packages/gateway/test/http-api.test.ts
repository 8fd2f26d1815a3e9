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
