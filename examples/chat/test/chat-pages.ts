import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core'
import type { Scope } from '@mesa/test-kit'
import { expect } from 'vitest'

/** A chat page in a browser context of its own (its own network, its own storage), signed in as `name`. */
export interface ChatPage {
  name: string
  context: BrowserContext
  page: Page
}

/** The texts of the current room's messages, as the page shows them. */
export const shownTexts = (page: Page): Promise<string[]> => page.locator('#messages li .text').allTextContents()

/** The current room's members line. */
export const members = (page: Page): Promise<string | null> => page.locator('#members').textContent()

/** What the page's client delivered, as `room:seq` (`window.chatDeliveries`). */
export const deliveries = (page: Page): Promise<string[]> =>
  page.evaluate(() => (window as unknown as { chatDeliveries: string[] }).chatDeliveries)

export async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text)
  await page.press('#text', 'Enter')
}

/**
 * Opens the chat at `url` signed in as `name` (`?name=`) and waits until it is online. Its context closes with
 * the scope, and an uncaught error in the page fails the test then.
 */
export async function openChat(browser: Browser, scope: Scope, url: string, name: string, settings: BrowserContextOptions = {}): Promise<ChatPage> {
  const context = await browser.newContext(settings)
  scope.defer(() => context.close())
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (error) => errors.push(error.message))
  scope.defer(() => expect(errors, `uncaught errors in ${name}'s page`).toEqual([]))
  await page.goto(`${url}?name=${name}`)
  await page.locator('#state[data-state="online"]').waitFor()
  return { name, context, page }
}

/**
 * Two members of the current room talk: each sees what the other says, in order, and `b` sees `a` typing (typing
 * indicators are published with sync: false). Leaves `a`'s composer empty.
 */
export async function converse(a: ChatPage, b: ChatPage, [first, second]: [string, string]): Promise<void> {
  await say(a.page, first)
  await expect.poll(() => shownTexts(b.page), { timeout: 10_000 }).toEqual([first])
  await say(b.page, second)
  await expect.poll(() => shownTexts(a.page), { timeout: 10_000 }).toEqual([first, second])
  await a.page.fill('#text', 'typ')
  await a.page.locator('#text').dispatchEvent('input')
  await expect.poll(() => b.page.locator('#typing').textContent(), { timeout: 10_000 }).toBe(`${a.name} is typing…`)
  await a.page.fill('#text', '')
}
