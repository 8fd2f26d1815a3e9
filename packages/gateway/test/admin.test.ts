import { fileURLToPath } from 'node:url'
import { Message } from '@mesa/client-node'
import { Portal } from '@mesa/portal'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Scope, waitFor } from '@mesa/test-kit'
import { keepScreenshot, launchChromium } from '@mesa/test-kit/browser'
import { API_KEY, callApi, gatewayInProcess, hs256Token, JWT_SECRET, recordingClient } from './support.js'

const screenshot = fileURLToPath(new URL('../../../docs/gateway-admin.png', import.meta.url))
/** Fixed size, zone and locale, and whole-frame repaints, so the screenshot comes out the same on every run. */
const PAGE_SETTINGS = { viewport: { width: 1100, height: 860 }, timezoneId: 'UTC', locale: 'en-US' }
const BROWSER_ARGS = ['--disable-partial-raster']

/** What the page's cards show. */
async function cards(page: Page): Promise<Record<string, string | null>> {
  const text = (id: string) => page.locator(`#${id}`).textContent()
  return {
    connections: await text('connections'),
    authenticated: await text('authenticated'),
    usersOnline: await text('users-online'),
    channels: await text('channels'),
    portals: await text('portal-count'),
  }
}

async function samples(page: Page): Promise<number> {
  return Number(await page.locator('body').getAttribute('data-samples'))
}

describe('gateway admin page in Chromium', () => {
  const scope = new Scope()
  let browser: Browser
  beforeAll(async () => {
    browser = await launchChromium(BROWSER_ARGS)
  })
  afterAll(async () => {
    await browser?.close()
  })
  afterEach(() => scope.cleanup())

  async function openAdmin(url: string): Promise<Page> {
    const context = await browser.newContext(PAGE_SETTINGS)
    scope.defer(() => context.close())
    const page = await context.newPage()
    const errors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))
    scope.defer(() => expect(errors, 'uncaught errors in the admin page').toEqual([]))
    await page.goto(`${url}/admin`)
    await page.locator('body[data-state="signed-out"]').waitFor()
    return page
  }

  async function signIn(page: Page, key: string): Promise<void> {
    await page.fill('#key', key)
    await page.press('#key', 'Enter')
  }

  it('signs in with the API key into a session cookie, shows the server live, signs out', async () => {
    const { gateway, ws } = await gatewayInProcess(scope, { jwt: { secret: JWT_SECRET }, apiKey: API_KEY })
    // The data needs the key; the page itself does not.
    expect((await fetch(`${gateway.url}/admin/events`)).status).toBe(401)
    expect((await fetch(`${gateway.url}/admin/session`)).status).toBe(401)

    const page = await openAdmin(gateway.url)
    await signIn(page, 'not-the-key-at-all')
    await expect.poll(() => page.locator('#sign-in-error').textContent()).toBe('wrong API key')
    await signIn(page, API_KEY)
    await page.locator('body[data-state="live"]').waitFor()
    const [cookie] = await page.context().cookies()
    expect(cookie).toMatchObject({ name: 'mesa_admin', httpOnly: true, sameSite: 'Strict', path: '/admin' })
    expect(cookie!.value).not.toContain(API_KEY)
    expect(page.url()).not.toContain(API_KEY)

    await expect.poll(() => cards(page)).toEqual({ connections: '0', authenticated: '0', usersOnline: '0', channels: '0', portals: '0' })
    const ada = recordingClient(scope, ws)
    await ada.client.authenticate({ token: await hs256Token('ada') })
    await expect.poll(() => cards(page), { timeout: 5000 }).toEqual({ connections: '1', authenticated: '1', usersOnline: '1', channels: '0', portals: '0' })
    // A channel with a subscriber on this gateway, and what its subscriptions number.
    expect((await callApi(gateway.url, 'subscribe', { users: ['ada'], channel: 'news' })).status).toBe(200)
    await expect.poll(() => cards(page), { timeout: 5000 }).toMatchObject({ channels: '1' })
    expect(await page.locator('#subscriptions').textContent()).toBe('1 subscription here')
    const portal = new Portal(gateway.adapter, { id: 'billing-1' })
    scope.defer(() => portal.close())
    await expect.poll(() => page.locator('#portals li').allTextContents(), { timeout: 5000 }).toEqual(['billing-1'])
    ada.client.send(new Message(0, { text: 'hi' }, 'CHAT'))
    await expect.poll(() => page.locator('#rates').textContent(), { timeout: 5000 }).toMatch(/^1 in, 0 out now/)
    ada.client.disconnect()
    await portal.close()
    await expect.poll(() => cards(page), { timeout: 5000 }).toEqual({ connections: '0', authenticated: '0', usersOnline: '0', channels: '0', portals: '0' })

    await page.click('#sign-out')
    await page.locator('body[data-state="signed-out"]').waitFor()
    expect(await page.context().cookies()).toEqual([])
    // Signed out, a reload shows the form again.
    await page.reload()
    await page.locator('body[data-state="signed-out"]').waitFor()
  })

  it('takes the screenshot in docs/: connections, traffic, portals and the adapter', async () => {
    // No heartbeats and no authentication deadline while the screenshot is composed: nothing moves but the burst.
    const { gateway, ws } = await gatewayInProcess(scope, {
      jwt: { secret: JWT_SECRET },
      apiKey: API_KEY,
      heartbeat: { interval: 3_600_000 },
      authentication: { timeout: 0 },
    })
    const users = ['ada', 'bo', 'cy']
    const clients = await Promise.all(
      users.map(async (id) => {
        const client = recordingClient(scope, ws)
        await client.client.authenticate({ token: await hs256Token(id) })
        return client
      }),
    )
    const anonymous = recordingClient(scope, ws)
    await anonymous.client.connect()
    for (const id of ['notifications-1', 'notifications-2']) {
      const portal = new Portal(gateway.adapter, { id })
      scope.defer(() => portal.close())
    }

    expect((await callApi(gateway.url, 'subscribe', { users: users, channel: 'news' })).status).toBe(200)
    expect((await callApi(gateway.url, 'subscribe', { users: ['ada'], channel: 'room:lobby' })).status).toBe(200)

    const page = await openAdmin(gateway.url)
    await signIn(page, API_KEY)
    await expect
      .poll(() => cards(page), { timeout: 5000 })
      .toEqual({ connections: '4', authenticated: '3', usersOnline: '3', channels: '2', portals: '2' })
    expect(await page.locator('#subscriptions').textContent()).toBe('4 subscriptions here')
    // The burst right after a sample, so that it falls within one second's sample on every run.
    await waitFor('two samples', async () => (await samples(page)) >= 2)
    for (const client of clients) for (let i = 0; i < 10; i++) client.client.send(new Message(0, { i }, 'PING'))
    for (let i = 0; i < 5; i++) expect((await callApi(gateway.url, 'broadcast', { type: 'NEWS', data: { i } })).status).toBe(200)
    await waitFor('every broadcast delivered', () => clients.every((client) => client.messages.length === 5))
    await waitFor('six samples', async () => (await samples(page)) === 6, 10_000)
    expect(await page.locator('#adapter-kind').textContent()).toBe('memory')
    expect(await page.locator('#adapter-status').textContent()).toBe('reachable')
    expect(await page.locator('#rates').textContent()).toBe('0 in, 0 out now · 0.0 KB/s in, 0.0 KB/s out · 0 publications/s')
    // Taken within one sample: the charts are those of the six samples.
    const png = await page.screenshot({ animations: 'disabled', caret: 'hide' })
    if ((await samples(page)) === 6) await keepScreenshot(browser, screenshot, png)
  })
})
