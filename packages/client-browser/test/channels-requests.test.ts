import type { Frame } from '@mesa/core'
import { Scope, ScriptedServer, type ServerSide, serverFrames, waitFor } from '@mesa/test-kit'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { browserSite, bundleClient, GLOBAL_PAGE, MODULE_PAGE } from './harness.js'

/**
 * Channels, requests both ways and acknowledged sends of the minified single-file builds, in Chromium, against
 * a scripted protocol 2 server (every server frame written by the test).
 */

const { authenticated, subscribed, publication, reply, failure, request } = serverFrames

type PageClient = {
  authenticate(data: object): Promise<unknown>
  subscribe(channel: string, options?: object): PageSubscription
  request(message: unknown, options?: object): Promise<{ type?: string; data: object }>
  send(message: unknown, options?: object): Promise<void> | undefined
  onRequest(type: string, handler: (message: { data: Record<string, number> }) => unknown): () => void
  subscriptions: Map<string, PageSubscription>
}
type PageSubscription = {
  on(event: string, listener: (...args: unknown[]) => void): PageSubscription
  unsubscribe(): Promise<void>
  position?: { epoch: string; seq: number }
}
type PageWindow = {
  start(url: string, options?: object): string
  client: PageClient
  Mesa: { Message: new (op: number, data: object, type?: string) => unknown; [name: string]: unknown }
  seen: unknown[]
  outcomes: unknown[]
}

describe('@mesa/client-browser: channels and requests (Chromium)', () => {
  const scope = new Scope()
  const { newPage } = browserSite(async () => {
    const [esm, iife] = await Promise.all([bundleClient('esm'), bundleClient('iife')])
    return {
      '/': { type: 'text/html', body: MODULE_PAGE },
      '/global.html': { type: 'text/html', body: GLOBAL_PAGE },
      '/mesa.js': { type: 'text/javascript', body: esm },
      '/mesa.global.js': { type: 'text/javascript', body: iife },
    }
  }, scope)

  async function serve(): Promise<ScriptedServer> {
    const server = await ScriptedServer.start()
    scope.defer(() => server.close())
    return server
  }

  /** Starts the page's client on the server and authenticates it on its first connection; resolves with that. */
  async function signIn(page: Page, server: ScriptedServer): Promise<ServerSide> {
    const done = page.evaluate((url) => {
      const w = window as unknown as PageWindow
      w.seen = []
      w.outcomes = []
      w.start(url, { backoff: { base: 20, max: 40 } })
      return w.client.authenticate({ name: 'page' })
    }, server.url)
    const side = await server.connection(0)
    await side.frame(2)
    side.send(authenticated({ name: 'page' }))
    await done
    return side
  }

  const framesOf = (side: ServerSide, op: number): Frame[] => side.frames.filter((frame) => frame.op === op)
  const seen = (page: Page) => page.evaluate(() => (window as unknown as PageWindow).seen)
  const outcomes = (page: Page) => page.evaluate(() => (window as unknown as PageWindow).outcomes)

  it('subscribes, takes each publication once, resubscribes from its position after a cut link, and unsubscribes', async () => {
    const server = await serve()
    const { page } = await newPage()
    const first = await signIn(page, server)
    await page.evaluate(() => {
      const w = window as unknown as PageWindow
      const sub = w.client.subscribe('room:1')
      sub.on('message', (message) => w.seen.push((message as { sequence: number }).sequence))
      sub.on('subscribed', (info) => w.seen.push(info))
    })
    const ask = await first.frame(30)
    first.send(subscribed('room:1', { re: ask.x!.id as number, pos: { epoch: 'r', seq: 1 } }))
    for (const s of [2, 2, 3]) first.send(publication('room:1', 'SAY', { s }, s))
    await waitFor('live', async () => (await seen(page)).length === 3)
    first.ws.terminate()

    const second = await server.connection(1)
    expect((await second.frame(2)).x).toMatchObject({ ch: { 'room:1': { epoch: 'r', seq: 3 } } })
    second.send(authenticated())
    second.send(subscribed('room:1', { pos: { epoch: 'r', seq: 5 } }))
    for (const s of [3, 4, 5, 6]) second.send(publication('room:1', 'SAY', { s }, s))
    await waitFor('replayed', async () => (await seen(page)).length === 7)
    expect(await seen(page)).toEqual([
      { recovered: true, position: { epoch: 'r', seq: 1 } },
      2,
      3,
      { recovered: true, position: { epoch: 'r', seq: 5 } },
      4,
      5,
      6,
    ])
    const unsubscribed = page.evaluate(() => (window as unknown as PageWindow).client.subscriptions.get('room:1')!.unsubscribe())
    const leave = await second.frame(32)
    second.send(reply(leave.x!.id as number))
    await unsubscribed
    expect(await page.evaluate(() => (window as unknown as PageWindow).client.subscriptions.size)).toBe(0)
  })

  it('requests and answers requests, with typed errors that keep their names in the minified build', async () => {
    const server = await serve()
    const { page } = await newPage('/global.html')
    const side = await signIn(page, server)
    await page.evaluate(() => {
      const w = window as unknown as PageWindow
      const { Message, RequestError } = w.Mesa as unknown as {
        Message: new (op: number, data: object, type?: string) => unknown
        RequestError: new () => Error
      }
      const settle = (promise: Promise<unknown>) =>
        promise.then(
          (value) => w.outcomes.push({ value: (value as { data?: unknown } | undefined)?.data ?? null }),
          (error: Error & { code: string; rejection: string }) =>
            w.outcomes.push({ name: error.name, code: error.code, rejection: error.rejection, typed: error instanceof RequestError }),
        )
      settle(w.client.request(new Message(0, { id: 1 }, 'GET')))
      settle(w.client.request(new Message(0, {}, 'SELL')))
      w.client.onRequest('ADD', (message) => ({ sum: message.data.a! + message.data.b! }))
    })
    await waitFor('two requests', () => framesOf(side, 40).length === 2)
    const [get, sell] = framesOf(side, 40)
    side.send(reply(get!.x!.id as number, { name: 'Ada' }, 'PROFILE'))
    side.send(failure(sell!.x!.id as number, 'sold-out', 'none left'))
    side.send(request(7, 'ADD', { a: 2, b: 5 }))
    await waitFor('outcomes', async () => (await outcomes(page)).length === 2)
    expect(await outcomes(page)).toEqual([
      { value: { name: 'Ada' } },
      { name: 'RequestError', code: 'rejected', rejection: 'sold-out', typed: true },
    ])
    await waitFor('the answer', () => framesOf(side, 41)[0])
    expect(framesOf(side, 41)[0]).toEqual({ op: 41, d: { sum: 7 }, x: { re: 7 } })
  })

  it('keeps acknowledged sends across a cut link and writes them again with the same ids until acknowledged', async () => {
    const server = await serve()
    const { page } = await newPage()
    const first = await signIn(page, server)
    await page.evaluate(() => {
      const w = window as unknown as PageWindow
      for (const n of [1, 2]) {
        w.client
          .send(new w.Mesa.Message(0, { n }, 'ORDER'), { ack: true })!
          .then(() => w.outcomes.push(`acknowledged ${n}`))
      }
    })
    await waitFor('written', () => framesOf(first, 0).length === 2)
    const ids = framesOf(first, 0).map((frame) => frame.x!.id)
    first.send(reply(ids[0] as number))
    await waitFor('first acknowledged', async () => (await outcomes(page)).length === 1)
    first.ws.terminate()
    const second = await server.connection(1)
    await second.frame(2)
    second.send(authenticated())
    const again = await second.frame(0, 'ORDER')
    expect(again).toEqual({ op: 0, d: { n: 2 }, t: 'ORDER', x: { id: ids[1] } })
    second.send(reply(ids[1] as number))
    await waitFor('both acknowledged', async () => (await outcomes(page)).length === 2)
    expect(await outcomes(page)).toEqual(['acknowledged 1', 'acknowledged 2'])
  })
})
