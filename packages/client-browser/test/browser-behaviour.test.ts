import { Scope, ScriptedServer } from '@mesa/test-kit'
import { describe, expect, it } from 'vitest'
import { browserSite, bundleClient, MODULE_PAGE, pageLog, waitForLog } from './harness.js'

// Browser-specific behaviour against a scripted server, which can do what a Mesa server never does on
// purpose: fall silent, or hold the reconnect window open for an hour.
describe('browser client behaviour (Chromium)', () => {
  const scope = new Scope()
  const { newPage } = browserSite(
    async () => ({
      '/': { type: 'text/html', body: MODULE_PAGE },
      '/mesa.js': { type: 'text/javascript', body: await bundleClient('esm') },
    }),
    scope,
  )

  it('offers the mesa.v2 subprotocol and answers heartbeats', async () => {
    const server = await ScriptedServer.start({
      hello: () => ({ op: 10, d: { c_heartbeat_interval: 60_000, rules: [] }, x: { protocol: 2 } }),
      onConnection: (side) => side.send({ op: 1, d: {} }),
    })
    scope.defer(() => server.close())
    const { page } = await newPage()
    await page.evaluate((url) => (window as unknown as { start: (url: string) => void }).start(url), server.url)
    await waitForLog(page, "log.states.includes('open')")
    await expect.poll(() => server.sockets[0]!.frames.some((frame) => frame.op === 11), { timeout: 10_000 }).toBe(true)
    expect(server.sockets[0]!.offered).toEqual(['mesa.v2'])
  })

  it('closes with 4005 and reconnects when the server falls silent past its heartbeat interval', async () => {
    // The first connection announces 300 ms heartbeats and then never sends one; later ones behave.
    const server = await ScriptedServer.start({
      hello: (_, index) => ({ op: 10, d: { c_heartbeat_interval: index === 0 ? 300 : 60_000, c_reconnect_interval: 50, rules: [] } }),
    })
    scope.defer(() => server.close())
    const { page } = await newPage()
    await page.evaluate(
      (url) => (window as unknown as { start: (url: string, o: object) => void }).start(url, { heartbeatGrace: 300 }),
      server.url,
    )
    await waitForLog(page, 'log.connected.length >= 2')
    const log = await pageLog(page)
    expect(log.disconnected[0]).toMatchObject({ code: 4005, willAttemptReconnect: true })
    expect(log.connected[1]).toMatchObject({ isAutomaticReconnection: true })
    expect(server.sockets).toHaveLength(2)
  })

  it('reconnects at once on the online event instead of waiting out its backoff', async () => {
    const server = await ScriptedServer.start({ hello: () => ({ op: 10, d: { rules: [] } }) })
    scope.defer(() => server.close())
    const { context, page } = await newPage()
    // An hour-long reconnect delay: only the `online` event can bring the client back within the test.
    await page.evaluate(
      (url) =>
        (window as unknown as { start: (url: string, o: object) => void }).start(url, {
          backoff: { base: 3_600_000, max: 3_600_000, random: () => 0.99 },
        }),
      server.url,
    )
    await waitForLog(page, "log.states.includes('open')")
    await context.setOffline(true)
    server.sockets[0]!.ws.terminate()
    await waitForLog(page, "log.states.at(-1) === 'reconnecting'")
    expect(server.sockets).toHaveLength(1)
    await context.setOffline(false)
    await waitForLog(page, 'log.connected.length === 2')
    const log = await pageLog(page)
    expect(log.connected[1]).toMatchObject({ isAutomaticReconnection: true })
    expect(server.sockets).toHaveLength(2)
  })

  it('removes its online listener once closed', async () => {
    const server = await ScriptedServer.start({ hello: () => ({ op: 10, d: { rules: [] } }) })
    scope.defer(() => server.close())
    const { context, page } = await newPage()
    // Mirrors the DOM's bookkeeping: one entry per distinct listener, whatever the number of add calls.
    await page.evaluate((url) => {
      const w = window as unknown as { online: Set<unknown>; start: (url: string) => void }
      const add = window.addEventListener.bind(window)
      const remove = window.removeEventListener.bind(window)
      w.online = new Set()
      window.addEventListener = ((type: string, listener: EventListener) => {
        if (type === 'online') w.online.add(listener)
        add(type, listener)
      }) as typeof window.addEventListener
      window.removeEventListener = ((type: string, listener: EventListener) => {
        if (type === 'online') w.online.delete(listener)
        remove(type, listener)
      }) as typeof window.removeEventListener
      w.start(url)
    }, server.url)
    await waitForLog(page, "log.states.includes('open')")
    expect(await page.evaluate(() => (window as unknown as { online: Set<unknown> }).online.size)).toBe(1)
    await page.evaluate(() => (window as unknown as { client: { disconnect(): void } }).client.disconnect())
    expect(await page.evaluate(() => (window as unknown as { online: Set<unknown> }).online.size)).toBe(0)
    // A closed client stays closed when the network returns.
    await context.setOffline(true)
    await context.setOffline(false)
    await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 200)))
    expect(server.sockets).toHaveLength(1)
  })
})
