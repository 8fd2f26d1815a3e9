import { Message } from '@mesa/client-node'
import { Scope, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { API_KEY, callApi, gatewayInProcess, hs256Token, JWT_SECRET, received, recordingClient } from './support.js'

const METRICS_TOKEN = 'test-metrics-token-0123456789'

/** GET /metrics with `token`: the status, and the samples (`name{labels}` -> value) of a 200. */
async function scrape(url: string, token: string | null = METRICS_TOKEN, method = 'GET') {
  const response = await fetch(`${url}/metrics`, { method, headers: token === null ? {} : { authorization: `Bearer ${token}` } })
  const text = await response.text()
  const samples = new Map<string, number>()
  if (response.status === 200) {
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue
      const space = line.lastIndexOf(' ')
      samples.set(line.slice(0, space), Number(line.slice(space + 1)))
    }
  }
  return { status: response.status, type: response.headers.get('content-type'), text, samples }
}

describe('gateway /metrics', () => {
  const scope = new Scope()
  afterEach(() => scope.cleanup())

  it('serves Prometheus text whose counters move with traffic, behind the metrics token or the API key', async () => {
    const { gateway, logs, ws } = await gatewayInProcess(scope, { jwt: { secret: JWT_SECRET }, apiKey: API_KEY, metricsToken: METRICS_TOKEN })
    const { url, mesa } = gateway
    const server = `server="${mesa.id}"`
    const before = await scrape(url)
    expect(before.status).toBe(200)
    expect(before.type).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(before.samples.get(`mesa_messages_out_total{${server}}`)).toBe(0)
    expect(before.samples.get(`mesa_connections{${server},protocol="2"}`)).toBe(0)
    // The process's metrics too.
    expect(before.text).toContain('# TYPE process_cpu_user_seconds_total counter')

    const ada = recordingClient(scope, ws)
    await ada.client.authenticate({ token: await hs256Token('ada') })
    expect((await callApi(url, 'send', { recipients: ['ada'], type: 'NEW_MESSAGE', data: { text: 'hi' } })).status).toBe(200)
    await received(ada, 'NEW_MESSAGE')
    await ada.client.send(new Message(0, {}, 'TYPING'))
    await waitFor('the message to arrive', () => mesa.stats.messagesIn === 1)

    const after = await scrape(url, API_KEY)
    expect(after.status).toBe(200)
    expect(after.samples.get(`mesa_connections{${server},protocol="2"}`)).toBe(1)
    expect(after.samples.get(`mesa_connections_authenticated{${server}}`)).toBe(1)
    expect(after.samples.get(`mesa_messages_out_total{${server}}`)).toBeGreaterThanOrEqual(1)
    expect(after.samples.get(`mesa_bytes_out_total{${server}}`)).toBeGreaterThan(before.samples.get(`mesa_bytes_out_total{${server}}`)!)
    expect(after.samples.get(`mesa_messages_in_total{${server}}`)).toBe(1)
    expect(after.samples.get(`mesa_bytes_in_total{${server}}`)).toBeGreaterThan(0)
    expect(after.samples.get(`mesa_portal_queue_pending{${server}}`)).toBe(0)

    // The server logs through the gateway's logger.
    expect(logs).toContainEqual(expect.objectContaining({ level: 'debug', msg: 'connection', protocol: 2 }))
    expect(logs).toContainEqual(expect.objectContaining({ level: 'info', msg: 'mesa listening', port: gateway.port }))
  })

  it('refuses scrapes without a valid token, other methods, and is off with neither token nor API key', async () => {
    const { gateway } = await gatewayInProcess(scope, { metricsToken: METRICS_TOKEN })
    const refused = await scrape(gateway.url, null)
    expect(refused.status).toBe(401)
    expect(JSON.parse(refused.text)).toEqual({
      error: { code: 'unauthorized', message: 'send the metrics token (or the API key) as Authorization: Bearer <token>' },
    })
    expect((await scrape(gateway.url, `${METRICS_TOKEN}x`)).status).toBe(401)
    // The API is off without a key: the metrics token opens the metrics only.
    expect((await callApi(gateway.url, 'presence', {}, METRICS_TOKEN)).status).toBe(403)
    expect((await scrape(gateway.url, METRICS_TOKEN, 'POST')).status).toBe(405)
    const head = await scrape(gateway.url, METRICS_TOKEN, 'HEAD')
    expect([head.status, head.text]).toEqual([200, ''])

    const bare = await gatewayInProcess(scope, {})
    const off = await scrape(bare.gateway.url, METRICS_TOKEN)
    expect(off.status).toBe(403)
    expect(JSON.parse(off.text)).toMatchObject({ error: { code: 'metrics-disabled' } })
  })
})
