import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const publicDir = fileURLToPath(new URL('../public/', import.meta.url))
const clientDist = join(dirname(require.resolve('@mesa/client-browser/package.json')), 'dist')

const html = 'text/html; charset=utf-8'
const js = 'text/javascript; charset=utf-8'

/** Every URL the page needs, mapped to its file: nothing else is served, so no path can escape. */
const files = {
  '/': { path: join(publicDir, 'index.html'), type: html },
  '/index.html': { path: join(publicDir, 'index.html'), type: html },
  '/chat.js': { path: join(publicDir, 'chat.js'), type: js },
  '/chat.css': { path: join(publicDir, 'chat.css'), type: 'text/css; charset=utf-8' },
  // The browser client's single-file ES module build (core inlined, minified).
  '/mesa.js': { path: join(clientDist, 'mesa.js'), type: js },
  '/mesa.js.map': { path: join(clientDist, 'mesa.js.map'), type: 'application/json' },
}

const escapeAttribute = (value) =>
  value.replace(/[&"<>]/g, (c) => ({ '&': '&amp;', '"': '&quot;', '<': '&lt;', '>': '&gt;' })[c])

/**
 * An http request handler for the chat page. Resolves to false for URLs it does not serve, so a host
 * server can answer those itself.
 *
 * @param {{ mesaPath?: string, log?: (level: string, msg: string, fields?: object) => void }} [options]
 *   mesaPath: the Mesa server's WebSocket path, told to the page (default '/ws').
 */
export function createPageHandler({ mesaPath = '/ws', log = () => {} } = {}) {
  const meta = `<meta name="mesa-path" content="${escapeAttribute(mesaPath)}">`
  return async function handlePage(req, res) {
    const file = files[new URL(req.url ?? '/', 'http://localhost').pathname]
    if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) return false
    let body
    try {
      body = await readFile(file.path)
    } catch (error) {
      log('error', 'cannot read page file', { path: file.path, error: error.message })
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
      res.end(`cannot read ${file.path}: run "pnpm build" at the repository root first\n`)
      return true
    }
    if (file.type === html) body = Buffer.from(body.toString('utf8').replace('<meta name="mesa-path" content="/ws">', meta))
    res.writeHead(200, { 'content-type': file.type, 'content-length': body.byteLength, 'cache-control': 'no-cache' })
    res.end(req.method === 'HEAD' ? undefined : body)
    return true
  }
}
