import { readFile } from 'node:fs/promises'
import type { BrowserContext, Browser, Page } from 'playwright-core'
import { REPO_ROOT, type Scope } from '@mesa/test-kit'
import { launchChromium, serveFiles, type StaticFile, type StaticServer } from '@mesa/test-kit/browser'
import { afterAll, afterEach, beforeAll } from 'vitest'
import { browserBuilds, buildBrowserFile } from '../browser-build.mjs'

/**
 * A single-file build of the client (`mesa.js` or `mesa.global.js`), made from the sources by the build's own
 * pipeline (browser-build.mjs: bundled with core, terser, internal properties mangled), so the tests run what
 * ships and never a stale `dist/`.
 */
export async function bundleClient(format: 'esm' | 'iife'): Promise<string> {
  const output = browserBuilds.find((build) => build.file.startsWith('mesa.') && build.format === format)!
  return (await buildBrowserFile(output, { root: REPO_ROOT })).code
}

/** The 1.x browser client's UMD build (global `MesaClient`), as a page of an existing app would load it. */
export function legacyClientSource(): Promise<string> {
  return readFile(`${REPO_ROOT}node_modules/mesa-js-client/lib/mesa-js-client.umd.js`, 'utf8')
}

/**
 * Page-side helpers shared by the test pages: `start(url, options)` creates `window.client` and records what
 * it emits in `window.log`, so a test can wait on the log instead of sleeping.
 */
const RECORDER = `<script>
window.start = (url, options) => {
  const log = (window.log = { messages: [], connected: [], disconnected: [], authenticated: [], resync: [], states: [], errors: [] })
  const client = (window.client = new Mesa.Client(url, options))
  client.on('message', (m) => log.messages.push({ type: m.type, data: m.data, sequence: m.sequence, sync: m.options.sync }))
  client.on('connected', (info) => log.connected.push(info))
  client.on('disconnected', (code, reason, info) => log.disconnected.push({ code, reason, ...info }))
  client.on('authenticated', (result) => log.authenticated.push(result))
  client.on('resync', (reason) => log.resync.push(reason ?? null))
  client.on('stateChange', (state) => log.states.push(state))
  client.on('error', (error) => log.errors.push(error.message))
  return client.state
}
</script>`

/** A page whose module script exposes the client's exports as `window.Mesa`, then sets `window.mesaReady`. */
export const MODULE_PAGE = `<!doctype html><meta charset="utf-8"><title>mesa test</title>${RECORDER}
<script type="module">import * as Mesa from '/mesa.js'; window.Mesa = Mesa; window.mesaReady = true</script>`

/** A page that loads the IIFE build with a plain script tag. */
export const GLOBAL_PAGE = `<!doctype html><meta charset="utf-8"><title>mesa test</title>${RECORDER}
<script src="/mesa.global.js"></script><script>window.mesaReady = typeof Mesa === 'object'</script>`

/** A page with the 1.x browser client. */
export const LEGACY_PAGE = `<!doctype html><meta charset="utf-8"><title>mesa 1.x test</title>
<script src="/mesa-js-client.umd.js"></script><script>window.mesaReady = typeof MesaClient === 'function'</script>`

/** The shape of `window.log` in the test pages. */
export interface PageLog {
  messages: { type: string | undefined; data: Record<string, unknown>; sequence: number | undefined; sync: boolean }[]
  connected: { isInitialConnection: boolean; isInitialSessionConnection: boolean; isAutomaticReconnection: boolean }[]
  disconnected: { code: number; reason: string; willAttemptReconnect: boolean }[]
  authenticated: { user: unknown; recovered: boolean; reason?: string }[]
  resync: (string | null)[]
  states: string[]
  errors: string[]
}

/** Reads the page's `window.log`. */
export function pageLog(page: Page): Promise<PageLog> {
  return page.evaluate(() => (window as unknown as { log: PageLog }).log)
}

/** Waits until `predicate` holds for the page's `window.log` (evaluated in the page). */
export async function waitForLog(page: Page, predicate: string, timeout = 15_000): Promise<void> {
  await page.waitForFunction(`(() => { const log = window.log; return ${predicate} })()`, undefined, { timeout, polling: 20 })
}

export async function openPage(page: Page, url: string): Promise<void> {
  await page.goto(url)
  await page.waitForFunction(() => (window as unknown as { mesaReady?: boolean }).mesaReady === true)
}

/**
 * Chromium and a site serving the files `files()` gives, for the tests of one `describe`: started in
 * `beforeAll`, closed in `afterAll`; `scope` is cleaned up after each test, closing the pages opened meanwhile.
 */
export function browserSite(files: () => Promise<Record<string, StaticFile>>, scope: Scope) {
  let browser: Browser | undefined
  let site: StaticServer | undefined
  beforeAll(async () => {
    const [served, launched] = await Promise.all([files().then(serveFiles), launchChromium()])
    site = served
    browser = launched
  })
  afterAll(async () => {
    await site?.close()
    await browser?.close()
  })
  afterEach(() => scope.cleanup())
  return {
    /** Opens `path` of the site in a page of its own context, closed after the test, once the page is ready. */
    async newPage(path = '/'): Promise<{ context: BrowserContext; page: Page }> {
      const context = await browser!.newContext()
      scope.defer(() => context.close())
      const page = await context.newPage()
      await openPage(page, `${site!.origin}${path}`)
      return { context, page }
    },
  }
}

