import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname } from 'node:path'
import { type Browser, chromium } from 'playwright-core'

/** Debian's chromium, driven by playwright-core: nothing downloads a browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium'
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']

/** `extraArgs`: Chromium flags beyond the shared ones. */
export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...extraArgs] })
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
