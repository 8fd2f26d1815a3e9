import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Adapter, CloseCode } from '@mesa/core'
import { Dispatcher } from '@mesa/dispatcher'
import { type ConnectionVerdict, type LimitsOptions, Mesa } from '@mesa/server'
import { AdapterHealth } from './adapter-health.js'
import { AdminPage } from './admin/admin-page.js'
import { type GatewayConfig, type GatewaySettings, resolveConfig } from './config.js'
import { handleApi } from './http/api.js'
import { bearerToken, keyMatches } from './http/api-key.js'
import { originAllowed } from './http/origin.js'
import { MetricsEndpoint } from './http/metrics-endpoint.js'
import { HttpError, sendError, sendHttpError, sendJson } from './http/respond.js'
import { staticFiles } from './http/static-files.js'
import { claimedChannels } from './channel-claims.js'
import { createJwtVerifier, jwtAuthenticateHandler } from './jwt-authenticator.js'
import { createLogger, errorFields, type GatewayLogger } from './logger.js'

/** Answers a request the gateway does not route itself; resolves false to leave it to the gateway (static files, 404). */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>

/** `startGateway`'s options: the settings (as in the JSON file) and what only code can give. */
export interface GatewayOptions extends GatewaySettings {
  /** Where the gateway logs (pino's signature). Default: pino on stdout at `logLevel`. */
  logger?: GatewayLogger
  /** Extra routes, tried after the gateway's own and before `staticDir`. */
  handleRequest?: RequestHandler
  /**
   * Called with the Mesa server before the gateway listens, so that no socket arrives before it is done:
   * attach application logic here (an `authenticate` handler when no JWT is configured, message handlers, a
   * channel authorize hook, which replaces the one reading the token's channels claim).
   */
  setup?: (mesa: Mesa) => void
}

/** A running gateway. */
export interface Gateway {
  readonly config: GatewayConfig
  readonly mesa: Mesa
  /** The adapter the server, the dispatcher and the API share (the gateway created it and closes it). */
  readonly adapter: Adapter
  readonly dispatcher: Dispatcher
  /** The port it listens on (the one picked when `port` is 0). */
  readonly port: number
  /** `http://<host>:<port>`. */
  readonly url: string
  /** What `/readyz` answers: listening, not draining, and the adapter (Redis) answers. */
  ready(): Promise<boolean>
  /**
   * Drains and stops: refuses new sockets and requests, closes every socket with 1012 (`ServiceRestart`:
   * clients reconnect with jittered backoff, to another gateway behind the same address), finishes requests
   * under way, then closes the adapter. Idempotent.
   */
  close(): Promise<void>
}

/** Requests still running this long after a drain began are cut. */
const REQUEST_GRACE_MS = 5000

/**
 * Starts a gateway: a Mesa server on one http server with the HTTP API, health checks, the admin page and, when
 * configured, static files; JWT authentication when a key is configured. Rejects with `GatewayConfigError` on
 * invalid settings, or with the error that kept it from listening.
 */
export async function startGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const config = resolveConfig(omitHooks(options))
  const log = options.logger ?? createLogger(config.logLevel)
  const health = await AdapterHealth.create(config)
  const { adapter } = health
  adapter.on('error', (error) => log.warn(errorFields(error), 'adapter error'))
  adapter.on('ready', () => log.info({}, 'adapter ready'))

  let listening = false
  let draining = false
  const serveStatic = config.staticDir === undefined ? undefined : staticFiles(config.staticDir)
  const dispatcher = new Dispatcher(adapter, { sync: config.sync.enabled, maxChannelsPerUser: config.channels.maxPerUser })
  const authorized = (req: IncomingMessage) => config.apiKey !== undefined && keyMatches(bearerToken(req), config.apiKey)

  const http = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (error instanceof HttpError) return sendHttpError(res, error)
      log.error({ ...errorFields(error), method: req.method, url: req.url }, 'request failed')
      sendError(res, 500, 'internal', 'the gateway could not handle the request')
    })
  })

  /** The server's admission hook: no new sockets while draining; browsers only from allowed origins. */
  const admit = (req: IncomingMessage): ConnectionVerdict => {
    if (draining) return { status: 503, reason: 'draining' }
    if (originAllowed(req, config.allowedOrigins)) return true
    log.info({ origin: req.headers.origin }, 'websocket refused: origin not allowed')
    return { status: 403, reason: 'origin not allowed' }
  }

  const mesa = new Mesa({
    server: http,
    path: config.path,
    adapter,
    maxPayload: config.limits.maxPayload,
    maxBufferedAmount: config.limits.maxBufferedAmount,
    verifyConnection: admit,
    limits: serverLimits(config.limits),
    channels: { maxPerConnection: config.channels.maxPerConnection, rules: config.channels.rules },
    heartbeat: config.heartbeat,
    reconnect: { enabled: true, interval: config.reconnectInterval },
    authentication: config.authentication,
    sync: config.sync,
    // The server logs its errors (warn or error, with their code), connections and closes (debug) here.
    logger: log,
  })
  if (config.jwt !== undefined) {
    const handler = jwtAuthenticateHandler(createJwtVerifier(config.jwt), (error) =>
      log.info({ reason: error.message, detail: (error.cause as Error | undefined)?.message }, 'authentication refused'),
    )
    mesa.on('connection', (client) => client.authenticate(handler))
    // Channels without code: the token says which channels its client may subscribe to. `setup` may set another hook.
    mesa.channels.authorize(claimedChannels(config.jwt.channelsClaim))
  }
  options.setup?.(mesa)
  if (config.jwt === undefined && options.setup === undefined && config.authentication.required) {
    log.warn({}, 'no JWT key is configured (MESA_JWT_SECRET, MESA_JWT_PUBLIC_KEY or MESA_JWT_JWKS_URL): clients cannot authenticate')
  }

  const admin = new AdminPage({ mesa, health, authorized, apiKey: config.apiKey, log })
  const metrics = new MetricsEndpoint(
    mesa,
    [config.metricsToken, config.apiKey].filter((token) => token !== undefined),
  )

  const ready = async () => listening && !draining && (await health.probe())

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { pathname } = new URL(req.url ?? '/', 'http://gateway')
    if (pathname === '/healthz') return sendJson(res, 200, { status: 'ok' })
    if (pathname === '/metrics') return metrics.handle(req, res)
    if (pathname === '/readyz') {
      const ok = await ready()
      return sendJson(res, ok ? 200 : 503, { status: ok ? 'ready' : draining ? 'draining' : 'adapter-unreachable' })
    }
    if (pathname.startsWith('/api/')) {
      if (config.apiKey === undefined) throw new HttpError(403, 'api-disabled', 'the HTTP API is off: set MESA_API_KEY')
      if (!authorized(req)) {
        throw new HttpError(401, 'unauthorized', 'send the API key as Authorization: Bearer <key>', {
          'www-authenticate': 'Bearer',
        })
      }
      if (draining) throw new HttpError(503, 'shutting-down', 'the gateway is shutting down', { connection: 'close' })
      return handleApi(pathname.slice('/api/'.length), req, res, { dispatcher, adapter, maxRequestBody: config.limits.maxRequestBody })
    }
    if (await admin.handle(req, res, pathname)) return
    if (options.handleRequest && (await options.handleRequest(req, res))) return
    if (serveStatic && (await serveStatic(req, res, pathname))) return
    throw new HttpError(404, 'not-found', `nothing at ${pathname}`)
  }

  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject)
      http.listen(config.port, config.host, () => {
        http.off('error', reject)
        resolve()
      })
    })
    await mesa.listening()
  } catch (error) {
    metrics.close()
    await mesa.close()
    await dispatcher.close()
    await adapter.close()
    throw error
  }
  http.on('error', (error) => log.error(errorFields(error), 'http server error'))
  listening = true
  const { port } = http.address() as AddressInfo
  const host = config.host ?? 'localhost'
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  log.info(
    {
      url,
      port,
      host: config.host ?? null,
      path: config.path,
      adapter: health.kind,
      namespace: adapter.namespace,
      jwt: config.jwt === undefined ? null : config.jwt.algorithms,
      api: config.apiKey !== undefined,
      staticDir: config.staticDir ?? null,
    },
    'gateway listening',
  )

  let closing: Promise<void> | undefined
  async function drain(): Promise<void> {
    draining = true
    log.info({ connections: mesa.connectionCount }, 'draining')
    // No new connections; idle keep-alive ones close now, busy ones after their response.
    const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()))
    http.closeIdleConnections()
    admin.close()
    await mesa.close({ code: CloseCode.ServiceRestart, reason: 'restarting' })
    metrics.close()
    await dispatcher.close()
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([httpClosed, new Promise<void>((resolve) => (timer = setTimeout(resolve, REQUEST_GRACE_MS)))])
    clearTimeout(timer)
    http.closeAllConnections()
    await adapter.close()
    log.info({}, 'gateway closed')
  }

  return {
    config,
    mesa,
    adapter,
    dispatcher,
    port,
    url,
    ready,
    close() {
      closing ??= drain()
      return closing
    },
  }
}

/** The server's `limits` from the gateway's: a rate limit switched off is `false` there. */
function serverLimits({ rate, ...limits }: GatewayConfig['limits']): LimitsOptions {
  const { enabled, ...bucket } = rate
  return {
    maxPayloadBeforeAuthentication: limits.maxPayloadBeforeAuthentication,
    maxConnectionsPerIp: limits.maxConnectionsPerIp,
    maxConnectionsPerUser: limits.maxConnectionsPerUser,
    maxBufferedBytes: limits.maxBufferedBytes,
    rate: enabled ? bucket : false,
  }
}

function omitHooks(options: GatewayOptions): GatewaySettings {
  const { logger: _logger, handleRequest: _handleRequest, setup: _setup, ...settings } = options
  return settings
}
