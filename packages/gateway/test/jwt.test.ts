import { generateKeyPairSync } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { AuthenticationError, Client, type Subscription, SubscriptionError } from '@mesa/client-node'
import { exportJWK, type JWK, SignJWT } from 'jose'
import { nextEvent, Scope } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { API_KEY, callApi, gatewayInProcess, hs256Token, JWT_SECRET, received, recordingClient } from './support.js'

describe('gateway JWT authentication', () => {
  const scope = new Scope()
  afterEach(() => scope.cleanup())

  /** Authenticates a fresh client with `token`; what it resolved with, or the close code and reason it got. */
  async function authenticate(ws: string, token: unknown): Promise<{ user?: unknown; code?: number; reason?: string }> {
    const client = new Client(ws, { reconnect: false })
    scope.defer(() => client.disconnect())
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      client.once('disconnected', (code, reason) => resolve({ code, reason })),
    )
    try {
      return { user: await client.authenticate({ token }) }
    } catch (error) {
      expect(error).toBeInstanceOf(AuthenticationError)
      return await closed
    }
  }

  it('HS256: the subject is the user id, the claims the user object; the API reaches the user', async () => {
    const { gateway, ws } = await gatewayInProcess(scope, { jwt: { secret: JWT_SECRET }, apiKey: API_KEY })
    const ada = recordingClient(scope, ws)
    const user = await ada.client.authenticate({ token: await hs256Token('ada', { name: 'Ada', role: 'admin' }) })
    expect(user).toMatchObject({ sub: 'ada', name: 'Ada', role: 'admin' })
    expect(typeof (user as { exp: unknown }).exp).toBe('number')
    expect((await callApi(gateway.url, 'send', { recipients: ['ada'], type: 'HELLO', data: { n: 1 } })).status).toBe(200)
    expect(await received(ada, 'HELLO')).toEqual({ n: 1 })
  })

  it('refuses with a generic reason and closes with 1008; the log says why', async () => {
    const { ws, logs } = await gatewayInProcess(scope, { jwt: { secret: JWT_SECRET } })
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('ada')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('another-secret-of-more-than-thirty-two-bytes'))
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"ada","exp":9999999999}').toString('base64url')}.`
    const cases: [string, unknown, string][] = [
      ['expired', await hs256Token('ada', {}, Math.floor(Date.now() / 1000) - 60), 'token expired'],
      ['signed with another key', forged, 'invalid token'],
      ['alg none', unsigned, 'invalid token'],
      ['without sub', await hs256Token(undefined), 'invalid token'],
      ['without exp', await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('ada').sign(new TextEncoder().encode(JWT_SECRET)), 'invalid token'],
      ['not a string', { sub: 'ada' }, 'invalid token'],
      ['missing', undefined, 'invalid token'],
      ['garbage', 'not.a.jwt', 'invalid token'],
    ]
    for (const [what, token, reason] of cases) {
      expect(await authenticate(ws, token), what).toEqual({ code: 1008, reason })
    }
    const refusals = logs.filter((line) => line.msg === 'authentication refused')
    expect(refusals).toHaveLength(cases.length)
    expect(refusals[0]).toMatchObject({ level: 'info', reason: 'token expired', detail: expect.stringContaining('exp') })
  })

  it('checks iss and aud when configured', async () => {
    const { ws } = await gatewayInProcess(scope, { jwt: { secret: JWT_SECRET, issuer: 'https://auth.example', audience: 'mesa' } })
    expect(await authenticate(ws, await hs256Token('ada'))).toEqual({ code: 1008, reason: 'invalid token' })
    expect(await authenticate(ws, await hs256Token('ada', { iss: 'https://auth.example', aud: 'other' }))).toEqual({ code: 1008, reason: 'invalid token' })
    expect(await authenticate(ws, await hs256Token('ada', { iss: 'https://auth.example', aud: 'mesa' }))).toMatchObject({ user: { sub: 'ada' } })
  })

  it('RS256 with a PEM public key', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const { ws } = await gatewayInProcess(scope, { jwt: { publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() } })
    const token = await new SignJWT({ plan: 'pro' }).setProtectedHeader({ alg: 'RS256' }).setSubject('bo').setExpirationTime('5m').sign(privateKey)
    expect(await authenticate(ws, token)).toMatchObject({ user: { sub: 'bo', plan: 'pro' } })
    // An HS256 token "signed" with the public key as secret: the classic algorithm confusion, refused.
    const confused = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('bo')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(publicKey.export({ type: 'spki', format: 'pem' }).toString()))
    expect(await authenticate(ws, confused)).toEqual({ code: 1008, reason: 'invalid token' })
  })

  /** Subscribes and resolves once the server answered: 'subscribed', or the refusal's code and message. */
  async function outcome(subscription: Subscription): Promise<string> {
    return new Promise((resolve) => {
      subscription.once('subscribed', () => resolve('subscribed'))
      subscription.once('error', (error) => {
        expect(error).toBeInstanceOf(SubscriptionError)
        resolve(`${error.code}: ${error.message}`)
      })
    })
  }

  it('channels without code: a client subscribes to the channels its token grants by name or prefix*, and is refused any other', async () => {
    const { gateway, ws } = await gatewayInProcess(scope, { jwt: { secret: JWT_SECRET }, apiKey: API_KEY })
    const ada = recordingClient(scope, ws)
    await ada.client.authenticate({ token: await hs256Token('ada', { channels: ['news', 'room:*', 7] }) })
    const news = ada.client.subscribe('news')
    expect(await outcome(news)).toBe('subscribed')
    expect(await outcome(ada.client.subscribe('room:lobby'))).toBe('subscribed')
    const refused = `forbidden: the token's "channels" claim does not grant this channel`
    for (const channel of ['newsroom', 'room', 'secret', '7']) expect(await outcome(ada.client.subscribe(channel)), channel).toBe(refused)

    // What is published to a granted channel reaches the subscription.
    const published = nextEvent(news, 'message')
    expect((await callApi(gateway.url, 'publish', { channel: 'news', type: 'HEADLINE', data: { title: 'hi' } })).status).toBe(200)
    expect((await published)[0].data).toEqual({ title: 'hi' })

    // No claim, or a claim that is not a list: nothing is granted.
    for (const claims of [{}, { channels: 'news' }, { channels: { news: true } }]) {
      const other = recordingClient(scope, ws)
      await other.client.authenticate({ token: await hs256Token('bo', claims) })
      expect(await outcome(other.client.subscribe('news')), JSON.stringify(claims)).toBe(refused)
    }
    // `*` alone grants every channel.
    const any = recordingClient(scope, ws)
    await any.client.authenticate({ token: await hs256Token('cy', { channels: ['*'] }) })
    expect(await outcome(any.client.subscribe('anything:at/all'))).toBe('subscribed')
  })

  it('channels without code: the claim is configurable, and renewals after a reconnect are granted by it too', async () => {
    const claim = 'https://example.com/channels'
    const { gateway, ws } = await gatewayInProcess(scope, { jwt: { secret: JWT_SECRET, channelsClaim: claim }, apiKey: API_KEY })
    const ada = recordingClient(scope, ws, { backoff: { base: 50, max: 100 } })
    await ada.client.authenticate({ token: await hs256Token('ada', { [claim]: ['feed:*'], channels: ['news'] }) })
    const feed = ada.client.subscribe('feed:ada')
    expect(await outcome(feed)).toBe('subscribed')
    expect(await outcome(ada.client.subscribe('news'))).toBe(`forbidden: the token's "${claim}" claim does not grant this channel`)

    // The server drops the socket; the client renews its subscription on the next one, granted again.
    const renewed = nextEvent(feed, 'subscribed')
    for (const client of gateway.mesa.clients) client.disconnect(1001)
    expect((await renewed)[0]).toMatchObject({ recovered: true })
    const published = nextEvent(feed, 'message')
    expect((await callApi(gateway.url, 'publish', { channel: 'feed:ada', type: 'ITEM', data: { n: 1 } })).status).toBe(200)
    expect((await published)[0].data).toEqual({ n: 1 })
  })

  it('ES256 with a JWKS URL served over http: fetched once and cached; a key not in the set is refused', async () => {
    const keys: JWK[] = []
    let fetches = 0
    const jwks = createServer((_req, res) => {
      fetches++
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }))
    })
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve))
    scope.defer(() => new Promise<void>((resolve) => jwks.close(() => resolve())))
    const signer = async (kid: string, publish: boolean) => {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      if (publish) keys.push({ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' })
      return (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid }).setSubject(sub).setExpirationTime('5m').sign(privateKey)
    }
    const signPublished = await signer('published', true)
    const signRogue = await signer('rogue', false)
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`
    const { ws } = await gatewayInProcess(scope, { jwt: { jwksUrl } })
    expect(await authenticate(ws, await signPublished('cy'))).toMatchObject({ user: { sub: 'cy' } })
    expect(await authenticate(ws, await signPublished('di'))).toMatchObject({ user: { sub: 'di' } })
    expect(fetches).toBe(1)
    expect(await authenticate(ws, await signRogue('ed'))).toEqual({ code: 1008, reason: 'invalid token' })
  })
})
