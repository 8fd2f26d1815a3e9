import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join, resolve, sep } from 'node:path'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
}

/**
 * Serves the files under `root` for GET and HEAD (`index.html` for a directory). Resolves false when there is no
 * such file, so the caller answers 404. A path that would leave `root` (`..`, encoded or not) and dotfiles are
 * never served.
 */
export function staticFiles(root: string): (req: IncomingMessage, res: ServerResponse, pathname: string) => Promise<boolean> {
  const base = resolve(root)
  return async (req, res, pathname) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false
    let decoded: string
    try {
      decoded = decodeURIComponent(pathname)
    } catch {
      return false
    }
    if (decoded.includes('\0') || decoded.split('/').some((part) => part.startsWith('.'))) return false
    let path = resolve(join(base, decoded))
    if (path !== base && !path.startsWith(base + sep)) return false
    let info = await stat(path).catch(() => undefined)
    if (info?.isDirectory()) {
      path = join(path, 'index.html')
      info = await stat(path).catch(() => undefined)
    }
    if (!info?.isFile()) return false
    res.writeHead(200, {
      'content-type': TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream',
      'content-length': info.size,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    })
    if (req.method === 'HEAD') {
      res.end()
      return true
    }
    await new Promise<void>((done) => {
      const file = createReadStream(path)
      file.on('error', () => {
        res.destroy()
        done()
      })
      res.on('close', done)
      file.pipe(res)
    })
    return true
  }
}
