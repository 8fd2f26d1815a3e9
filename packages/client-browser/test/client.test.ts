import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { MemoryAdapter } from '@mesa/core/server'
import Mesa, { Message } from '@mesa/server'
import { Scope, waitFor } from '@mesa/test-kit'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import {
  browserSite,
  bundleClient,
  GLOBAL_PAGE,
  LEGACY_PAGE,
  legacyClientSource,
  MODULE_PAGE,
  pageLog,
  waitForLog,
} from './harness.js'

interface Received {
  user: string | undefined
  type: string | undefined
  data: Record<string, unknown>
}

interface Running {
  mesa: Mesa
  http: Server
  port: number
  url: string
  /** Messages clients sent, with the user id they authenticated as. */
  received: Received[]
  close(): Promise<void>
}

/**
 * A Mesa server on its own http server, so that a restart can take the same port. Authentication accepts
 * `{ name }` as the user id; every message a client sends is recorded.
 */
async function startServer(options: { port?: number; adapter?: MemoryAdapter; heartbeatInterval?: number } = {}): Promise<Running> {
  const http = createServer()
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(options.port ?? 0, '127.0.0.1', () => resolve())
  })
  const mesa = new Mesa({
    server: http,
    ...(options.adapter ? { adapter: options.adapter } : {}),
    sync: { enabled: true },
    heartbeat: { enabled: true, interval: options.heartbeatInterval ?? 10_000 },
    reconnect: { enabled: true, interval: 100 },
  })
  const received: Received[] = []
  mesa.on('connection', (client) => {
    let user: string | undefined
    client.authenticate((data, done) => {
      const name = (data as { name?: unknown }).name
      if (typeof name !== 'string' || name === 'mallory') return done(new Error('who are you?'))
      user = name
      done(null, { id: name, user: { name } })
    })
    client.on('message', (message) => received.push({ user, type: message.type, data: message.data as Record<string, unknown> }))
  })
  const port = (http.address() as AddressInfo).port
  let closing: Promise<void> | undefined
  return {
    mesa,
    http,
    port,
    url: `ws://127.0.0.1:${port}`,
    received,
    close() {
      closing ??= (async () => {
        await mesa.close()
        http.closeAllConnections()
        await new Promise<void>((resolve) => http.close(() => resolve()))
      })()
      return closing
    },
  }
}

type PageWindow = {
  start(url: string, options?: object): string
  client: {
    authenticate(data: object, options?: object): Promise<unknown>
    send(message: unknown): void
    disconnect(): void
    state: string
  }
  Mesa: { Message: new (op: number, data: object, type?: string, options?: object) => unknown }
}

describe('@mesa/client-browser in Chromium against @mesa/server', () => {
  const scope = new Scope()
  const { newPage } = browserSite(async () => {
    const [esm, iife, legacy] = await Promise.all([bundleClient('esm'), bundleClient('iife'), legacyClientSource()])
    return {
      '/': { type: 'text/html', body: MODULE_PAGE },
      '/global.html': { type: 'text/html', body: GLOBAL_PAGE },
      '/legacy.html': { type: 'text/html', body: LEGACY_PAGE },
      '/mesa.js': { type: 'text/javascript', body: esm },
      '/mesa.global.js': { type: 'text/javascript', body: iife },
      '/mesa-js-client.umd.js': { type: 'text/javascript', body: legacy },
    }
  }, scope)

  async function server(options?: Parameters<typeof startServer>[0]): Promise<Running> {
    const running = await startServer(options)
    scope.defer(() => running.close())
    return running
  }

  /** Starts the page's client and authenticates it as `name`; resolves with what `authenticate` resolved. */
  function signIn(page: Page, url: string, name: string, options: object = {}): Promise<unknown> {
    return page.evaluate(
      async ([url, name, options]) => {
        const w = window as unknown as PageWindow
        w.start(url, options)
        return w.client.authenticate({ name })
      },
      [url, name, options] as const,
    )
  }

  function sendFromPage(page: Page, data: object, type: string, options?: object): Promise<void> {
    return page.evaluate(
      ([data, type, options]) => {
        const w = window as unknown as PageWindow
        w.client.send(new w.Mesa.Message(0, data, type, options))
      },
      [data, type, options] as const,
    )
  }

  it('connects, authenticates, sends and receives (ES module build)', async () => {
    const mesa = await server()
    const { page } = await newPage()
    const user = await signIn(page, mesa.url, 'alice')
    expect(user).toEqual({ name: 'alice' })

    await sendFromPage(page, { text: 'hello from the page' }, 'SAY')
    await waitFor('the server to get the message', () => mesa.received.length > 0)
    expect(mesa.received[0]).toEqual({ user: 'alice', type: 'SAY', data: { text: 'hello from the page' } })

    await mesa.mesa.send(new Message(0, { text: 'to alice' }, 'NEW_MESSAGE'), ['alice'])
    await mesa.mesa.send(new Message(0, { text: 'to bob' }, 'NEW_MESSAGE'), ['bob'])
    await mesa.mesa.send(new Message(0, { text: 'to everyone' }, 'NEW_MESSAGE'))
    await waitForLog(page, 'log.messages.length >= 2')
    const log = await pageLog(page)
    expect(log.messages.map((m) => m.data.text)).toEqual(['to alice', 'to everyone'])
    expect(log.connected[0]).toEqual({ isInitialConnection: true, isInitialSessionConnection: true, isAutomaticReconnection: false })
    expect(log.authenticated).toHaveLength(1)
    expect(log.errors).toEqual([])
  })

  it('rejects authenticate() when the server refuses the credentials', async () => {
    const mesa = await server()
    const { page } = await newPage()
    const error = await page.evaluate(async (url) => {
      const w = window as unknown as PageWindow & { Mesa: { AuthenticationError: new () => Error; MesaError: new () => Error } }
      w.start(url)
      try {
        await w.client.authenticate({ name: 'mallory' })
        return undefined
      } catch (error) {
        return {
          // Spelled out in core, so it survives the minified bundle.
          name: (error as Error).name,
          isAuthenticationError: error instanceof w.Mesa.AuthenticationError,
          isMesaError: error instanceof w.Mesa.MesaError,
          code: (error as { code?: string }).code,
        }
      }
    }, mesa.url)
    expect(error).toEqual({ name: 'AuthenticationError', isAuthenticationError: true, isMesaError: true, code: 'rejected' })
    await waitForLog(page, "log.states.at(-1) === 'closed'")
    expect((await pageLog(page)).disconnected[0]).toMatchObject({ code: 1008, willAttemptReconnect: false })
  })

  it('subscribes to a channel, requests, answers requests and sends acknowledged messages (protocol 2)', async () => {
    const mesa = await server()
    mesa.mesa.channels.authorize((_client, channel) => channel === 'room:1')
    mesa.mesa.onRequest('ADD', (message) => ({ sum: (message.data.a as number) + (message.data.b as number) }))
    const { page } = await newPage()
    await signIn(page, mesa.url, 'iris')
    const result = await page.evaluate(async () => {
      type Sub = { on(event: string, listener: (value: { data: { text: string } }) => void): void }
      const w = window as unknown as PageWindow & {
        client: {
          subscribe(channel: string): Sub
          request(message: unknown): Promise<{ data: object }>
          onRequest(type: string, handler: () => object): void
          send(message: unknown, options: object): Promise<void>
        }
        texts: string[]
      }
      w.texts = []
      const sub = w.client.subscribe('room:1')
      sub.on('message', (message) => w.texts.push(message.data.text))
      await new Promise((resolve) => sub.on('subscribed', resolve as () => void))
      w.client.onRequest('PING', () => ({ pong: true }))
      const reply = await w.client.request(new w.Mesa.Message(0, { a: 2, b: 3 }, 'ADD'))
      await w.client.send(new w.Mesa.Message(0, { n: 1 }, 'ORDER'), { ack: true })
      return reply.data
    })
    expect(result).toEqual({ sum: 5 })
    expect(mesa.received).toContainEqual({ user: 'iris', type: 'ORDER', data: { n: 1 } })
    await mesa.mesa.publish('room:1', new Message(0, { text: 'hello room' }, 'SAY'))
    await page.waitForFunction(() => (window as unknown as { texts: string[] }).texts.length === 1)
    expect(await mesa.mesa.clients[0]!.request(new Message(0, {}, 'PING'))).toMatchObject({ data: { pong: true } })
  })

  it('works from a plain <script> tag (IIFE build, global Mesa)', async () => {
    const mesa = await server()
    const { page } = await newPage('/global.html')
    expect(await page.evaluate(() => typeof (window as unknown as { Mesa: { Client?: unknown } }).Mesa.Client)).toBe('function')
    await signIn(page, mesa.url, 'carol')
    await mesa.mesa.send(new Message(0, { n: 1 }, 'PING'), ['carol'])
    await waitForLog(page, 'log.messages.length === 1')
    expect((await pageLog(page)).messages[0]).toMatchObject({ type: 'PING', data: { n: 1 } })
  })

  it('reconnects after a server restart and resumes with no loss, in order, once each', async () => {
    // The store outlives the server process here as Redis would: both servers share one adapter.
    const adapter = new MemoryAdapter()
    const first = await server({ adapter })
    const { page } = await newPage()
    await signIn(page, first.url, 'dave')
    for (let n = 1; n <= 3; n++) await first.mesa.send(new Message(0, { n }, 'TICK'), ['dave'])
    await waitForLog(page, 'log.messages.length === 3')

    await first.close()
    await waitForLog(page, "log.states.at(-1) === 'reconnecting'")
    // Sent while dave has no connection anywhere: through another server sharing the store.
    const elsewhere = await server({ adapter })
    for (let n = 4; n <= 6; n++) await elsewhere.mesa.send(new Message(0, { n }, 'TICK'), ['dave'])

    const second = await server({ adapter, port: first.port })
    await waitForLog(page, 'log.authenticated.length === 2 && log.messages.length >= 6')
    await second.mesa.send(new Message(0, { n: 7 }, 'TICK'), ['dave'])
    await waitForLog(page, 'log.messages.length >= 7')
    const log = await pageLog(page)
    expect(log.messages.map((m) => m.data.n)).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(log.disconnected[0]).toMatchObject({ code: 1001, willAttemptReconnect: true })
    expect(log.connected.at(-1)).toMatchObject({ isAutomaticReconnection: true, isInitialSessionConnection: false })
    expect(log.authenticated[1]).toMatchObject({ recovered: true })
    expect(log.resync).toEqual([])
    // Re-authenticated on its own and flushed: the page's next message reaches the new server as dave.
    await sendFromPage(page, { back: true }, 'HELLO_AGAIN')
    await waitFor('the restarted server to get the message', () => second.received.length > 0)
    expect(second.received[0]).toEqual({ user: 'dave', type: 'HELLO_AGAIN', data: { back: true } })
    await adapter.close()
  })

  it('goes offline and back (context.setOffline): resumes what it missed, once each, in order', async () => {
    const mesa = await server({ heartbeatInterval: 300 })
    const { context, page } = await newPage()
    await signIn(page, mesa.url, 'erin', { heartbeatGrace: 300 })
    await mesa.mesa.send(new Message(0, { n: 1 }, 'TICK'), ['erin'])
    await waitForLog(page, 'log.messages.length === 1')

    await context.setOffline(true)
    // Typing-indicator style messages (`sync: false`) sent meanwhile are not for replay.
    await mesa.mesa.send(new Message(0, { typing: true }, 'TYPING', { sync: false }), ['erin'])
    for (let n = 2; n <= 5; n++) await mesa.mesa.send(new Message(0, { n }, 'TICK'), ['erin'])
    // The silent connection is noticed from timestamps (no heartbeat within interval + grace).
    await waitForLog(page, "log.states.at(-1) === 'reconnecting'")
    expect((await pageLog(page)).disconnected[0]).toMatchObject({ code: 4005, willAttemptReconnect: true })
    for (let n = 6; n <= 7; n++) await mesa.mesa.send(new Message(0, { n }, 'TICK'), ['erin'])

    await context.setOffline(false)
    await waitForLog(page, 'log.authenticated.length === 2 && log.messages.filter((m) => m.type === "TICK").length >= 7')
    await mesa.mesa.send(new Message(0, { n: 8 }, 'TICK'), ['erin'])
    await waitForLog(page, 'log.messages.filter((m) => m.type === "TICK").length >= 8')
    const log = await pageLog(page)
    expect(log.messages.filter((m) => m.type === 'TICK').map((m) => m.data.n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    expect(log.authenticated[1]).toMatchObject({ recovered: true })
  })

  it('a page whose timers ran late (a long task, a throttled or suspended tab) does not take the server for dead', async () => {
    const mesa = await server({ heartbeatInterval: 1000 })
    const { page } = await newPage()
    await signIn(page, mesa.url, 'hana', { heartbeatGrace: 200 })
    // The main thread blocked for longer than interval + grace (1.2 s), though shorter than the server's own
    // patience (3 unanswered beats): the dead-server check comes due while the server's heartbeats wait in the
    // task queue. When the page runs again, the session must judge by those frames, not by the late timer.
    await page.evaluate(() => {
      const until = performance.now() + 2000
      while (performance.now() < until) {
        // busy: nothing else runs
      }
    })
    await mesa.mesa.send(new Message(0, { n: 1 }, 'TICK'), ['hana'])
    await waitForLog(page, 'log.messages.length === 1')
    // Several intervals later, still on the first connection.
    await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 1000)))
    const log = await pageLog(page)
    expect(log.disconnected).toEqual([])
    expect(log.connected).toHaveLength(1)
  })

  it('runs mesa-js-client 1.4.8 (the 1.x browser client) in the page against our server', async () => {
    const mesa = await server({ heartbeatInterval: 200 })
    const { page } = await newPage('/legacy.html')
    const user = await page.evaluate(async (url) => {
      type Legacy = {
        onMessage: (message: { opcode: number; data: object; type?: string }) => void
        onConnected: () => void
        onDisconnected: (code: number) => void
        connect(): Promise<void>
        authenticate(data: object): Promise<unknown>
        send(op: number, data: object, type?: string): void
      }
      const w = window as unknown as {
        MesaClient: new (url: string, config?: object) => Legacy
        legacy: { messages: { opcode: number; data: object; type?: string }[]; disconnects: number[] }
        legacyClient: Legacy
      }
      w.legacy = { messages: [], disconnects: [] }
      const client = new w.MesaClient(url, { autoConnect: false })
      w.legacyClient = client
      client.onMessage = (message) => w.legacy.messages.push(message)
      client.onDisconnected = (code) => w.legacy.disconnects.push(code)
      await client.connect()
      return client.authenticate({ name: 'frank' })
    }, mesa.url)
    expect(user).toEqual({ name: 'frank' })

    await page.evaluate(() => (window as unknown as { legacyClient: { send(op: number, d: object, t: string): void } }).legacyClient.send(0, { v: 1 }, 'FROM_1X'))
    await waitFor('the server to get the 1.x message', () => mesa.received.length > 0)
    expect(mesa.received[0]).toEqual({ user: 'frank', type: 'FROM_1X', data: { v: 1 } })

    await mesa.mesa.send(new Message(0, { hi: '1.x' }, 'TO_1X'), ['frank'])
    await page.waitForFunction(() => (window as unknown as { legacy: { messages: unknown[] } }).legacy.messages.length > 0)
    const legacy = await page.evaluate(() => (window as unknown as { legacy: { messages: object[]; disconnects: number[] } }).legacy)
    expect(legacy.messages[0]).toEqual({ opcode: 0, data: { hi: '1.x' }, type: 'TO_1X' })
    // It answers heartbeats: many 200 ms beats later it is still connected and still receives.
    await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 1500)))
    await mesa.mesa.send(new Message(0, { still: 'here' }, 'TO_1X'), ['frank'])
    await page.waitForFunction(() => (window as unknown as { legacy: { messages: unknown[] } }).legacy.messages.length > 1)
    expect((await page.evaluate(() => (window as unknown as { legacy: { disconnects: number[] } }).legacy)).disconnects).toEqual([])
  })
})
