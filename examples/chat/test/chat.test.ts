import { fileURLToPath } from 'node:url'
import type { Browser } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { ensureBuilt, Scope } from '@mesa/test-kit'
import { keepScreenshot, launchChromium } from '@mesa/test-kit/browser'
import { type ChatServer, startChatServer } from '../src/server.mjs'
import { converse, deliveries, members, openChat, say, shownTexts } from './chat-pages.js'

const screenshot = fileURLToPath(new URL('../../../docs/chat.png', import.meta.url))
/**
 * What the screenshot shows must not depend on when or where the test runs, so that docs/chat.png comes out
 * the same on every run: the server's clock starts here (messages are stamped with its Date.now()), and the
 * pages format times in this zone and locale.
 */
const SCREENSHOT_CLOCK = new Date('2025-05-14T09:41:00Z')
const PAGE_SETTINGS = { viewport: { width: 960, height: 600 }, timezoneId: 'UTC', locale: 'en-US' }
/**
 * With partial raster Chromium repaints only what changed, and the antialiased edge of the state badge then
 * depends on what the badge showed before (offline, reconnecting): whole repaints make the pixels the same.
 */
const BROWSER_ARGS = ['--disable-partial-raster']

describe('chat example in Chromium', () => {
  let browser: Browser
  let chat: ChatServer
  const scope = new Scope()

  beforeAll(async () => {
    // The page loads the client's single-file build from dist, as a user of the example does.
    ensureBuilt(['client-browser'])
    browser = await launchChromium(BROWSER_ARGS)
  })
  afterAll(async () => {
    await browser?.close()
  })
  afterEach(() => scope.cleanup())

  const open = (name: string) => openChat(browser, scope, chat.url, name, PAGE_SETTINGS)

  it('two pages chat in a room channel; one goes offline (leaving its presence), misses messages, says one, comes back: everything once, in order', async () => {
    // Only Date is faked, and it advances in real time: every timer and timeout of the server runs as usual.
    vi.useFakeTimers({ toFake: ['Date'], now: SCREENSHOT_CLOCK, shouldAdvanceTime: true })
    scope.defer(() => {
      vi.useRealTimers()
    })
    // Short heartbeats: the offline page notices its silent connection quickly.
    chat = await startChatServer({ port: 0, heartbeatInterval: 400 })
    scope.defer(() => chat.close())
    const alice = await open('alice')
    const bob = await open('bob')
    // Both joined #general, the channel room:general: alice sees bob arrive (its presence, join and leave events).
    await expect.poll(() => members(alice.page), { timeout: 10_000 }).toBe('Members: alice, bob')
    await converse(alice, bob, ['hi bob', 'hi alice'])

    await bob.context.setOffline(true)
    await bob.page.locator('#state[data-state="offline"]').waitFor()
    // Bob's client gives up on its silent socket (no heartbeat within interval + grace), and the server on his: he
    // leaves the room's presence.
    await bob.page.locator('body[data-mesa-state="reconnecting"]').waitFor({ timeout: 15_000 })
    await expect.poll(() => members(alice.page), { timeout: 10_000 }).toBe('Members: alice')
    const missed = ['are you there?', 'the build is green', 'lunch at noon']
    for (const text of missed) await say(alice.page, text)
    await expect.poll(() => shownTexts(alice.page), { timeout: 10_000 }).toEqual(['hi bob', 'hi alice', ...missed])
    expect(await shownTexts(bob.page)).toEqual(['hi bob', 'hi alice'])
    // What bob says offline is kept (an acknowledged send) until the server took it.
    await say(bob.page, 'on a train, back soon')
    expect(await bob.page.locator('#unsent').textContent()).toBe('sending 1 message…')

    await bob.context.setOffline(false)
    await bob.page.locator('#state[data-state="online"]').waitFor({ timeout: 15_000 })
    const conversation = ['hi bob', 'hi alice', ...missed, 'on a train, back soon']
    await expect.poll(() => shownTexts(bob.page), { timeout: 10_000 }).toEqual(conversation)
    await expect.poll(() => shownTexts(alice.page), { timeout: 10_000 }).toEqual(conversation)
    await expect.poll(() => bob.page.locator('#unsent').textContent()).toBe('')
    await expect.poll(() => members(alice.page), { timeout: 10_000 }).toBe('Members: alice, bob')
    // Once each, in order, as the client delivered them (not only as the page deduplicates them).
    expect(await deliveries(bob.page)).toEqual(['general:1', 'general:2', 'general:3', 'general:4', 'general:5', 'general:6'])

    // And the conversation goes on.
    await say(bob.page, 'back, sorry!')
    await expect.poll(() => shownTexts(alice.page), { timeout: 10_000 }).toEqual([...conversation, 'back, sorry!'])
    // The room's channel stored each message once, and never a typing indicator (sent with sync: false).
    const history = await chat.mesa.history('room:general', { limit: 100 })
    expect(history.status === 'ok' && history.messages.map((message) => [message.sequence, message.type])).toEqual(
      [1, 2, 3, 4, 5, 6, 7].map((seq) => [seq, 'NEW_MESSAGE']),
    )

    await alice.page.fill('#text', 'see you')
    await alice.page.locator('#text').dispatchEvent('input')
    await expect.poll(() => bob.page.locator('#typing').textContent(), { timeout: 10_000 }).toBe('alice is typing…')
    expect(await members(bob.page)).toBe('Members: alice, bob')
    // Kept in docs/ and shown in the README; rewritten only when it looks different, so a test run leaves the
    // work tree as it was.
    await keepScreenshot(browser, screenshot, await bob.page.screenshot({ animations: 'disabled', caret: 'hide' }))
  })

  it('a name the server refuses brings the sign-in form back with the reason', async () => {
    chat = await startChatServer({ port: 0 })
    scope.defer(() => chat.close())
    const context = await browser.newContext()
    scope.defer(() => context.close())
    const page = await context.newPage()
    await page.goto(`${chat.url}?name=${encodeURIComponent('no spaces allowed')}`)
    await page.locator('#login-error:not(:empty)').waitFor()
    expect(await page.locator('#login-error').textContent()).toContain('a name is 1-24 letters')
    expect(await page.locator('#login').isVisible()).toBe(true)
    expect(await page.locator('#chat').isVisible()).toBe(false)
    expect(await page.locator('#state').getAttribute('data-state')).toBe('signed-out')

    await page.fill('#name', 'ivy')
    await page.press('#name', 'Enter')
    await page.locator('#state[data-state="online"]').waitFor()
    await expect.poll(() => page.locator('#members').textContent(), { timeout: 10_000 }).toContain('ivy')
  })

  it('each tab signs in on its own and can sign out; a reload keeps its rooms; leaving one; names stay readable; the badge recovers from a network blip; no 404', async () => {
    chat = await startChatServer({ port: 0 })
    scope.defer(() => chat.close())
    const context = await browser.newContext(PAGE_SETTINGS)
    scope.defer(() => context.close())
    const failed: string[] = []
    context.on('response', (response) => {
      if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`)
    })
    const first = await context.newPage()
    await first.goto(chat.url)
    await first.fill('#name', 'ada')
    await first.press('#name', 'Enter')
    await first.locator('#state[data-state="online"]').waitFor()

    // A second tab of the same browser is somebody else until told who it is: it asks.
    const second = await context.newPage()
    await second.goto(chat.url)
    expect(await second.locator('#login').isVisible()).toBe(true)
    expect(await second.locator('#login-hint').textContent()).toContain('?name=')
    await second.fill('#name', 'bea')
    await second.press('#name', 'Enter')
    await second.locator('#state[data-state="online"]').waitFor()
    // A reload keeps who each tab is. (The first tab comes to the front: Chromium throttles the frames of a
    // background tab, and clicks wait for frames.)
    await first.bringToFront()
    await first.reload()
    await first.locator('#state[data-state="online"]').waitFor()
    expect(await first.locator('#me').textContent()).toBe('ada')

    // A room you are not looking at is listed in a readable colour on the sidebar.
    await first.fill('#room-name', 'random')
    await first.press('#room-name', 'Enter')
    await first.locator('#rooms button', { hasText: '# general' }).click()
    const colours = await first.locator('#rooms button', { hasText: '# random' }).evaluate((button) => {
      const sidebar = getComputedStyle(button.closest('nav') as Element).backgroundColor
      return { text: getComputedStyle(button).color, sidebar }
    })
    expect(colours.text).not.toBe(colours.sidebar)
    // A reload keeps the tab's rooms too; leaving one unsubscribes from its channel.
    await first.reload()
    await first.locator('#state[data-state="online"]').waitFor()
    expect(await first.locator('#rooms button').allTextContents()).toEqual(['# general', '# random'])
    await first.locator('#rooms button', { hasText: '# random' }).click()
    const unsubscribed = new Promise<string>((resolve) => chat.mesa.once('unsubscribe', (channel) => resolve(channel)))
    await first.click('#leave-room')
    expect(await unsubscribed).toBe('room:random')
    expect(await first.locator('#rooms button').allTextContents()).toEqual(['# general'])
    expect(await first.locator('#room-title').textContent()).toBe('# general')

    // A blip the socket survives: offline, then online again before any heartbeat is missed.
    await context.setOffline(true)
    await second.locator('#state[data-state="offline"]').waitFor()
    await context.setOffline(false)
    await second.locator('#state[data-state="online"]').waitFor({ timeout: 5000 })
    await say(first, 'still there?')
    await expect.poll(() => shownTexts(second), { timeout: 10_000 }).toContain('still there?')

    // Signing out closes the connection and brings the form back.
    const disconnected = new Promise<void>((resolve) => chat.mesa.once('disconnection', () => resolve()))
    await second.click('#sign-out')
    await disconnected
    expect(await second.locator('#login').isVisible()).toBe(true)
    expect(await second.locator('#state').getAttribute('data-state')).toBe('signed-out')
    await second.reload()
    expect(await second.locator('#login').isVisible()).toBe(true)
    expect(failed).toEqual([])
  })
})
