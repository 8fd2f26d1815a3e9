import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RawClient, RedisServer, Scope, upgrade, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { API_KEY, callApi, gatewayInProcess, hs256Token, JWT_SECRET, recordingClient } from './support.js'

const status = async (url: string) => {
  const response = await fetch(url)
  return { status: response.status, body: await response.json() }
}

describe('gateway operations', () => {
  const scope = new Scope()
  afterEach(() => scope.cleanup())

  it('/healthz while the process runs; /readyz follows Redis: 503 while it is stopped, 200 once it is back', async () => {
    const redis = scope.add(await RedisServer.start(), (server) => server.destroy())
    const { gateway } = await gatewayInProcess(scope, { redisUrl: redis.url, apiKey: API_KEY, jwt: { secret: JWT_SECRET } })
    expect(await status(`${gateway.url}/healthz`)).toEqual({ status: 200, body: { status: 'ok' } })
    expect(await status(`${gateway.url}/readyz`)).toEqual({ status: 200, body: { status: 'ready' } })

    await redis.stop()
    expect(await status(`${gateway.url}/readyz`)).toEqual({ status: 503, body: { status: 'adapter-unreachable' } })
    expect(await status(`${gateway.url}/healthz`)).toEqual({ status: 200, body: { status: 'ok' } })
    // Nothing could be stored: a typed error the caller may retry on.
    expect(await callApi(gateway.url, 'send', { recipients: ['ada'], type: 'T' })).toMatchObject({
      status: 503,
      body: { error: { code: 'store-failed' } },
    })
    expect((await callApi(gateway.url, 'presence', { users: ['ada'] })).status).toBe(503)

    await redis.start()
    await waitFor('readyz to recover', async () => (await fetch(`${gateway.url}/readyz`)).status === 200, 15_000)
    expect((await callApi(gateway.url, 'send', { recipients: ['ada'], type: 'T' })).status).toBe(200)
  })

  it('drains on close(): not ready, new sockets refused, clients closed with 1012 and told to reconnect', async () => {
    const { gateway, ws, logs } = await gatewayInProcess(scope, { jwt: { secret: JWT_SECRET } })
    const ada = recordingClient(scope, ws)
    await ada.client.authenticate({ token: await hs256Token('ada') })
    const reasons: string[] = []
    ada.client.on('disconnected', (_code, reason, info) => reasons.push(`${reason} ${info.willAttemptReconnect}`))
    expect(await gateway.ready()).toBe(true)
    const closing = gateway.close()
    expect(await gateway.ready()).toBe(false)
    await expect(upgrade(ws)).rejects.toThrow(/ECONNREFUSED/)
    await closing
    expect(ada.closes[0]).toBe(1012)
    expect(reasons[0]).toBe('restarting true')
    expect(logs.map((line) => line.msg)).toEqual(expect.arrayContaining(['draining', 'gateway closed']))
    await expect(fetch(`${gateway.url}/healthz`)).rejects.toThrow()
  })

  it('refuses WebSockets from other origins unless allowed; clients without Origin pass', async () => {
    const same = await gatewayInProcess(scope)
    // Without a JWT key (and no code of its own) nobody can authenticate: said at start.
    expect(same.logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/^no JWT key is configured/) }))
    const host = `http://127.0.0.1:${same.gateway.port}`
    expect(await upgrade(same.ws)).toMatchObject({ status: 101 })
    expect(await upgrade(same.ws, { Origin: host })).toMatchObject({ status: 101 })
    expect(await upgrade(same.ws, { Origin: 'https://evil.example' })).toMatchObject({ status: 403 })
    expect(same.logs).toContainEqual(expect.objectContaining({ msg: 'websocket refused: origin not allowed', origin: 'https://evil.example' }))

    const listed = await gatewayInProcess(scope, { allowedOrigins: ['https://app.example'] })
    expect(await upgrade(listed.ws, { Origin: 'https://app.example' })).toMatchObject({ status: 101 })
    expect(await upgrade(listed.ws, { Origin: 'https://other.example' })).toMatchObject({ status: 403 })
    const any = await gatewayInProcess(scope, { allowedOrigins: ['*'] })
    expect(await upgrade(any.ws, { Origin: 'https://other.example' })).toMatchObject({ status: 101 })
  })

  it('gives the server its limits: connections per address and per user, the rate limit', async () => {
    const { ws } = await gatewayInProcess(scope, {
      jwt: { secret: JWT_SECRET },
      limits: { maxConnectionsPerIp: 2, maxConnectionsPerUser: 1, rate: { messagesPerSecond: 1, messageBurst: 3 } },
    })
    const connect = async () => scope.add(await RawClient.connect(ws), (client) => client.terminate())
    const [first, second] = [await connect(), await connect()]
    expect(await upgrade(ws)).toMatchObject({ status: 429 })

    const token = await hs256Token('ada')
    await first.authenticate({ token })
    second.send({ op: 2, d: { token } })
    expect((await second.waitClose()).code).toBe(4009)

    for (let n = 0; n < 5; n++) first.dispatch('FLOOD', { n })
    expect((await first.waitClose()).code).toBe(4006)
  })

  it('serves a static directory, never outside it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesa-gateway-static-'))
    scope.defer(() => rmSync(dir, { recursive: true, force: true }))
    writeFileSync(join(dir, 'index.html'), '<h1>app</h1>')
    writeFileSync(join(dir, 'app.js'), 'console.log(1)')
    writeFileSync(join(dir, '.env'), 'SECRET=1')
    const { gateway } = await gatewayInProcess(scope, { staticDir: dir })
    const page = await fetch(`${gateway.url}/`)
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(await page.text()).toBe('<h1>app</h1>')
    expect((await fetch(`${gateway.url}/app.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    for (const path of ['/.env', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc/passwd', '/missing.txt']) {
      expect((await fetch(`${gateway.url}${path}`)).status, path).toBe(404)
    }
  })
})
