import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll } from 'vitest'
import { newestMtime } from '../../../test/integration/harness/dist.js'
import { singleFileBuilds, singleFileOptions } from '../single-file-builds.mjs'

import type { Scope } from '../../../test/integration/harness/scope.js'

export { Scope } from '../../../test/integration/harness/scope.js'

/** Debian's chromium, driven by playwright-core: nothing downloads a browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium'
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']

/** `extraArgs`: Chromium flags beyond the shared ones. */
export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...extraArgs] })
}

const root = fileURLToPath(new URL('../../../', import.meta.url))

/**
 * A single-file build of the client (single-file-builds.mjs: the settings tsup uses), bundled from the sources
 * so the tests never run a stale `dist/`.
 */
export async function bundleClient(format: 'esm' | 'iife'): Promise<string> {
  const { entry } = singleFileBuilds.find((build) => build.format === format)!
  const result = await build({
    ...singleFileOptions,
    absWorkingDir: root,
    entryPoints: [`packages/client-browser/${entry}`],
    write: false,
    format,
    tsconfig: 'tsconfig.json',
    logLevel: 'silent',
  })
  return result.outputFiles[0]!.text
}

/**
 * Builds the packages whose `dist/` (checked through `file`, relative to the package) is missing or older
 * than their sources. Tests that serve the built client or run packages in child processes need it; under
 * `pnpm test` everything is already built and nothing happens.
 */
export function ensureBuilt(packages: readonly { name: string; file: string }[]): void {
  const stale = packages.filter(({ name, file }) => {
    const dist = join(root, 'packages', name, file)
    return !existsSync(dist) || newestMtime(join(root, 'packages', name, 'src')) > statSync(dist).mtimeMs
  })
  if (stale.length === 0) return
  const filters = stale.flatMap(({ name }) => ['--filter', `@mesa/${name}`])
  execFileSync('pnpm', [...filters, 'build'], { cwd: root, stdio: 'pipe', timeout: 120_000 })
}

/** The 1.x browser client's UMD build (global `MesaClient`), as a page of an existing app would load it. */
export function legacyClientSource(): Promise<string> {
  return readFile(`${root}node_modules/mesa-js-client/lib/mesa-js-client.umd.js`, 'utf8')
}

export interface StaticFile {
  type: string
  body: string
}

export interface StaticServer {
  /** `http://127.0.0.1:<port>` */
  origin: string
  close(): Promise<void>
}

/** Serves fixed files on 127.0.0.1 and a free port; anything else is a 404. */
export async function serveFiles(files: Record<string, StaticFile>): Promise<StaticServer> {
  const server: Server = createServer((req, res) => {
    const file = files[new URL(req.url ?? '/', 'http://localhost').pathname]
    if (!file) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(file.body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
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

/** Resolves when `check` returns a value other than undefined; rejects with `what` after `timeoutMs`. */
export async function until<T>(what: string, check: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
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

/**
 * Whether two PNGs look different: other sizes, or a pixel with a channel off by more than an eighth of its
 * range. Antialiasing jitter moves edge pixels by a few levels; anything the page really shows otherwise (a
 * glyph, a colour) moves some pixel much further. Decoded by the browser, on a blank page of its own.
 */
export async function lookDifferent(browser: Browser, a: Buffer, b: Buffer): Promise<boolean> {
  const page = await browser.newPage()
  try {
    return await page.evaluate(
      async ([a, b]) => {
        const pixels = async (base64: string) => {
          const image = await createImageBitmap(await (await fetch(`data:image/png;base64,${base64}`)).blob())
          const canvas = new OffscreenCanvas(image.width, image.height)
          const context = canvas.getContext('2d')!
          context.drawImage(image, 0, 0)
          return context.getImageData(0, 0, image.width, image.height)
        }
        const [x, y] = [await pixels(a), await pixels(b)]
        if (x.width !== y.width || x.height !== y.height) return true
        return x.data.some((value, i) => Math.abs(value - y.data[i]!) > 32)
      },
      [a.toString('base64'), b.toString('base64')] as const,
    )
  } finally {
    await page.close()
  }
}

/**
 * Writes a screenshot kept in the repository (docs/) only when it looks different from the one there, so a test
 * run leaves the work tree as it was; when a page's look changes, the file shows up modified, to be committed.
 */
export async function keepScreenshot(browser: Browser, path: string, png: Buffer): Promise<void> {
  if (existsSync(path) && !(await lookDifferent(browser, readFileSync(path), png))) return
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, png)
}
