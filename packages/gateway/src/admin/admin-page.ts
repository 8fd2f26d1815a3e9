import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import type { Mesa } from '@mesa/server'
import type { AdapterHealth, AdapterStatus } from '../adapter-health.js'
import { keyMatches } from '../http/api-key.js'
import { readJson } from '../http/read-json.js'
import { HttpError, sendJson } from '../http/respond.js'
import { errorFields, type GatewayLogger } from '../logger.js'
import { PUBLIC_DIR } from '../public-dir.js'
import { SESSION_COOKIE, SESSION_SECONDS, sessionValue, validSession } from './admin-session.js'
import { type Sample, Sampler } from './sampler.js'

/** Admin pages open at once per gateway; more are refused (each holds a connection and gets a push per second). */
export const MAX_VIEWERS = 16

/** What the page is pushed every second. */
export interface AdminSnapshot {
  time: number
  /** The Mesa server's id on the adapter. */
  gateway: { id: string }
  adapter: AdapterStatus
  /** Users online across every gateway of the namespace; null when the adapter did not answer. */
  usersOnline: number | null
  /** Portals consuming client events, by id. */
  portals: string[]
  samples: readonly Sample[]
}

const ASSETS: Record<string, { file: string; type: string }> = {
  '/admin': { file: 'admin.html', type: 'text/html; charset=utf-8' },
  '/admin/': { file: 'admin.html', type: 'text/html; charset=utf-8' },
  '/admin/admin.js': { file: 'admin.js', type: 'text/javascript; charset=utf-8' },
  '/admin/admin.css': { file: 'admin.css', type: 'text/css; charset=utf-8' },
}

export interface AdminPageOptions {
  mesa: Mesa
  health: AdapterHealth
  /** The request carries the API key (`Authorization: Bearer`). */
  authorized: (req: IncomingMessage) => boolean
  apiKey: string | undefined
  log: GatewayLogger
}

/**
 * The admin page at `/admin`, behind the API key: the key is entered once in the page, which posts it to
 * `/admin/session` and gets a session cookie (HttpOnly, SameSite=Strict, signed with the key, 12 h); the key
 * never appears in a URL. `/admin/events` streams a snapshot per second (Server-Sent Events): connections,
 * users online, portals, the adapter's status and the recent samples.
 */
export class AdminPage {
  private readonly viewers = new Set<ServerResponse>()
  private readonly sampler: Sampler
  private readonly portals = new Set<string>()
  private watchingPortals: Promise<(() => Promise<void>) | undefined> | undefined
  private closed = false

  constructor(private readonly options: AdminPageOptions) {
    this.sampler = new Sampler(options.mesa, () => void this.push())
  }

  /** Answers the admin routes; false for any other path. */
  async handle(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> {
    if (pathname !== '/admin' && !pathname.startsWith('/admin/')) return false
    const asset = ASSETS[pathname]
    if (asset !== undefined) {
      this.onlyMethods(req, ['GET', 'HEAD'])
      const body = await readFile(join(PUBLIC_DIR, asset.file))
      res.writeHead(200, {
        'content-type': asset.type,
        'content-length': body.byteLength,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        // The page runs its own script and styles only, and talks to this gateway only.
        'content-security-policy': "default-src 'self'; frame-ancestors 'none'",
      })
      res.end(req.method === 'HEAD' ? undefined : body)
      return true
    }
    const apiKey = this.options.apiKey
    if (apiKey === undefined) throw new HttpError(403, 'api-disabled', 'the admin page is off: set MESA_API_KEY')
    if (pathname === '/admin/session') {
      await this.session(req, res, apiKey)
      return true
    }
    if (pathname === '/admin/events') {
      this.onlyMethods(req, ['GET'])
      this.authenticate(req, apiKey)
      this.stream(req, res)
      return true
    }
    throw new HttpError(404, 'not-found', `nothing at ${pathname}`)
  }

  /** Ends every event stream and stops sampling (the gateway drains). */
  close(): void {
    this.closed = true
    this.sampler.stop()
    for (const viewer of this.viewers) viewer.end()
    this.viewers.clear()
    this.watchingPortals?.then((stop) => stop?.()).catch(() => {})
  }

  private onlyMethods(req: IncomingMessage, methods: readonly string[]): void {
    if (!methods.includes(req.method ?? '')) {
      throw new HttpError(405, 'method-not-allowed', `use ${methods.join(' or ')}`, { allow: methods.join(', ') })
    }
  }

  private authenticate(req: IncomingMessage, apiKey: string): void {
    if (!validSession(req.headers.cookie, apiKey) && !this.options.authorized(req)) {
      throw new HttpError(401, 'unauthorized', 'sign in with the API key')
    }
  }

  /** GET: is this browser signed in; POST `{ key }`: sign in; DELETE: sign out. */
  private async session(req: IncomingMessage, res: ServerResponse, apiKey: string): Promise<void> {
    this.onlyMethods(req, ['GET', 'POST', 'DELETE'])
    const cookie = (value: string, maxAge: number) => {
      // Secure when a TLS-terminating proxy says the page was loaded over https.
      const secure = req.headers['x-forwarded-proto'] === 'https' ? '; Secure' : ''
      return `${SESSION_COOKIE}=${value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure}`
    }
    if (req.method === 'GET') {
      this.authenticate(req, apiKey)
      return sendJson(res, 200, { signedIn: true })
    }
    if (req.method === 'DELETE') return sendJson(res, 200, { signedIn: false }, { 'set-cookie': cookie('', 0) })
    // JSON only: a cross-site form cannot send it without a CORS preflight, which this gateway never grants.
    const body = await readJson(req, 4096)
    const key = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).key : undefined
    if (typeof key !== 'string' || !keyMatches(key, apiKey)) {
      this.options.log.warn({ remoteAddress: req.socket.remoteAddress }, 'admin sign-in refused')
      throw new HttpError(401, 'unauthorized', 'wrong API key')
    }
    sendJson(res, 200, { signedIn: true }, { 'set-cookie': cookie(sessionValue(apiKey), SESSION_SECONDS) })
  }

  private stream(req: IncomingMessage, res: ServerResponse): void {
    if (this.closed) throw new HttpError(503, 'shutting-down', 'the gateway is shutting down')
    if (this.viewers.size >= MAX_VIEWERS) {
      throw new HttpError(503, 'too-many-streams', `at most ${MAX_VIEWERS} admin pages may be open at once`)
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
    this.viewers.add(res)
    req.on('close', () => this.viewers.delete(res))
    this.watchPortals()
    this.sampler.start()
    void this.push(res)
  }

  /** Watches portal membership from the first page on, for the gateway's life (on Redis: one connection). */
  private watchPortals(): void {
    this.watchingPortals ??= this.options.health.adapter.portal
      .watchMembers((event) => {
        if (event.kind === 'join') this.portals.add(event.portalId)
        else this.portals.delete(event.portalId)
      })
      .catch((error: unknown) => {
        this.options.log.warn(errorFields(error), 'admin page: cannot watch portals')
        return undefined
      })
  }

  /** Sends a snapshot to one page, or to every open one. */
  private async push(only?: ServerResponse): Promise<void> {
    const targets = only === undefined ? [...this.viewers] : [only]
    if (targets.length === 0) return
    const snapshot = await this.snapshot()
    const event = `event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`
    for (const viewer of targets) if (this.viewers.has(viewer)) viewer.write(event)
  }

  private async snapshot(): Promise<AdminSnapshot> {
    const { mesa, health } = this.options
    const [usersOnline] = await Promise.all([
      // `onlineCount` is optional in an adapter: the page shows '?' without it.
      health.adapter.presence.onlineCount?.().catch(() => null) ?? null,
      health.probe(),
    ])
    return {
      time: Date.now(),
      gateway: { id: mesa.id },
      adapter: health.status(),
      usersOnline,
      portals: [...this.portals].sort(),
      samples: this.sampler.history(),
    }
  }
}
