import type { Server as HttpServer, IncomingMessage } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import { ConfigError, PROTOCOL_VERSION } from '@mesa/core'
import type { Adapter } from '@mesa/core/server'

export interface HeartbeatOptions {
  /**
   * Send op 1 heartbeats and close sockets that stop answering, so that dead sockets are reaped. Default true
   * (Mesa 1.x: false; both 1.x client generations answer heartbeats).
   */
  enabled?: boolean
  /** ms between heartbeats (announced in hello as `c_heartbeat_interval`). Default 10000. */
  interval?: number
  /** Unanswered heartbeats tolerated; one more closes with `CloseCode.HeartbeatTimeout`. Default 3. */
  maxAttempts?: number
}

export interface ReconnectOptions {
  /** Announce `c_reconnect_interval` in hello so clients reconnect on their own. Default false. */
  enabled?: boolean
  /** Base reconnect delay for clients, ms. Default 5000. */
  interval?: number
}

export interface AuthenticationOptions {
  /**
   * ms a socket has to authenticate (announced as `c_authentication_timeout`; 0 disables). Enforced on sockets
   * the server expects to authenticate: every socket with `required`, else those given an `authenticate`
   * handler. Closed with `CloseCode.AuthenticationTimeout`. Default 10000.
   */
  timeout?: number
  /** Only authenticated sockets get broadcasts and have their messages accepted. Default false. */
  required?: boolean
  /** op 22 carries the user object (rule `sends_user_object`), else `{}`. Default true. */
  sendUserObject?: boolean
  /** A failed authentication closes the socket with 1008. Default true. */
  disconnectOnFail?: boolean
  /** Record authenticated users in the adapter's presence (needed to flag messages for offline 1.x users). Default true. */
  storeConnectedUsers?: boolean
  /**
   * Credentials a client may give with the WebSocket upgrade, as a query parameter (`?token=…`, what a browser can
   * do) or a request header; the authenticate handler gets them as `context.credentials` (third argument), and
   * `verifyConnection` can read them from the request. Default: none.
   */
  upgradeCredentials?: { query?: string; header?: string }
  /**
   * ms before an authentication's expiry (`done(null, { id, user, expiresAt })`) that a protocol 2 client is asked
   * to refresh it (op 35); halfway to the expiry when less time is left. Default 30000.
   */
  refreshBefore?: number
}

/** Requests (op 40) in both directions. */
export interface RequestsOptions {
  /**
   * Requests one socket may have waiting for their answer, in each direction: a client's further requests are
   * answered `too-many-requests`, `client.request()` rejects with `RequestError` `too-many-requests`. Default 64.
   */
  maxPending?: number
  /**
   * ms a handler or portal has to answer a client's request; then the client is answered `timeout` and a later
   * answer is dropped. Above the clients' own default timeout (10 s), so that theirs governs; this one frees
   * the socket's slot when nothing answers (no portal running). Default 30000.
   */
  timeout?: number
}

/** Acknowledged sends (op 0 with `x.id`): see the README, "Acknowledged sends". */
export interface AcksOptions {
  /**
   * ms a handled message is remembered (in the adapter's `Deduplicator`, shared by every server): a
   * retransmission within it is acknowledged without being handled again; one later is handled again. Default
   * 300000 (5 min).
   */
  window?: number
  /**
   * ms a server may take to handle one message (portal queue, listeners, middleware); a retransmission meanwhile
   * is answered `busy`, and one after it is handled again, on any server, as if the first server had died. Keep
   * it above the slowest handling. Default 30000.
   */
  lease?: number
  /**
   * Acknowledged sends one socket may have in flight, counting plain messages waiting behind them; beyond, the
   * send is answered `too-many-requests` (a plain message closes the socket with 4006). Default 64.
   */
  maxInFlight?: number
  /** Bytes of those frames; at least `maxPayload`. Default 4194304 (4 MiB). */
  maxInFlightBytes?: number
}

/** Per-socket rate limit: a token bucket per socket, refilled by the time elapsed (no timer). */
export interface RateLimitOptions {
  /** Messages (frames of any opcode) per second a socket may send on average. Default 200. */
  messagesPerSecond?: number
  /** Messages a socket may send at once above the average. Default 500. */
  messageBurst?: number
  /** Bytes per second a socket may send on average. Default 1048576 (1 MiB). */
  bytesPerSecond?: number
  /** Bytes a socket may send at once above the average; at least `maxPayload`. Default 4194304 (4 MiB). */
  byteBurst?: number
  /**
   * Over the limit: `'close'` the socket with `CloseCode.RateLimited` (4006), or `'drop'` the frame and report a
   * `ServerError` (`rate-limited`) through `error`, at most once per second per socket. Default `'close'`.
   */
  action?: 'close' | 'drop'
}

/** Bounds that protect a server from its clients. Every one has a safe default. */
export interface LimitsOptions {
  /** Largest frame a socket may send before it authenticated, bytes (1009 beyond). Default 32768 (32 KiB). */
  maxPayloadBeforeAuthentication?: number
  /** Deepest nesting of objects and arrays in a client frame (4000 beyond). Default 32. */
  maxDepth?: number
  /** Most object keys and array elements in one client frame, all levels counted (4000 beyond). Default 20000. */
  maxKeys?: number
  /** Per-socket rate limit; `false` turns it off. Defaults above. */
  rate?: RateLimitOptions | false
  /**
   * Sockets one IP address may have open at once, counted from the upgrade until the socket closes (HTTP 429 at the
   * upgrade beyond); the address is the TCP peer's, so behind a proxy it is the proxy's: cap there instead. 0: no
   * cap. Default 0.
   */
  maxConnectionsPerIp?: number
  /**
   * Sockets one user may have authenticated at once on this server (each server counts its own); the newest
   * beyond is closed with `CloseCode.TooManyConnections` (4009) instead of being acknowledged; 0: no cap. Default 0.
   */
  maxConnectionsPerUser?: number
  /**
   * Bytes waiting in the send buffers of all sockets together; beyond, the sockets holding the most are closed
   * with `CloseCode.TryAgainLater` (1013) until the total is under the bound again (`ServerError` `overloaded`).
   * Counted are the sockets holding more than 64 KiB each (a client that reads holds less); sockets the server is
   * closing no longer count. Default 268435456 (256 MiB).
   */
  maxBufferedBytes?: number
  /**
   * Bytes (encoded size) each of `client.messages.sent` and `.received` keeps with `options.storeMessages`, besides
   * the 100 messages: the oldest go first; a bigger message is not kept. 0: no byte bound. Default 1048576 (1 MiB).
   */
  maxStoredMessageBytes?: number
  /** ms a socket the server closed has to finish the closing handshake before it is cut. Default 2000. */
  closeTimeout?: number
  /**
   * ms an HTTP client has to send its upgrade request, on servers Mesa creates (Node's `headersTimeout` and
   * `requestTimeout`, 60 s and 300 s by default, let slow clients hold sockets; 408 beyond), and ms an async
   * `verifyConnection` has to answer (503 beyond, reported through `error`). Default 10000.
   */
  handshakeTimeout?: number
}

/** What `verifyConnection` answers: accept (`true`), refuse with 403 (`false`), or refuse with this status. */
export type ConnectionVerdict = boolean | { status: number; reason?: string }

export interface SyncOptions {
  /** Store synced messages and redeliver what a client missed (see the README). Default false. */
  enabled?: boolean
  /** ms between replayed messages when a client resumes; 0 writes them back to back. Default 0. */
  redeliveryInterval?: number
}

export interface PortalOptions {
  /** Push connection, authentication, message and disconnection events to the adapter's portal queue. Default false. */
  enabled?: boolean
  /**
   * Mesa 1.x: round-robin (true) or random (false) choice of portal. The portal queue always gives each event
   * to one live portal, so both values behave the same; kept so 1.x configurations validate. Default true.
   */
  distributeLoad?: boolean
}

export interface ClientOptions {
  /** Hello rule `enforce_equal_versions`: a client whose `CLIENT_VERSION` differs is closed with 1002. Default false. */
  enforceEqualVersions?: boolean
  /** The version clients must report under `enforceEqualVersions`. Default `'2'` (what Mesa 2 clients send). */
  version?: string
}

export interface ServerBehaviourOptions {
  /** Keep each client's sent and received messages on `client.messages` (rule `store_messages`). Default false. */
  storeMessages?: boolean
}

/** What channels whose names start with a rule's prefix keep and announce (`channels.rules`). */
export interface ChannelRule {
  /**
   * Store each synced publication in the channel's stream (`channel:<name>` in the adapter's store), so that
   * subscribers resume after a reconnect and `mesa.history()` reads it. Default true.
   */
  history?: boolean
  /** Record who is subscribed in the adapter's presence, for `mesa.presence(channel)`. Default false. */
  presence?: boolean
  /**
   * Tell the channel's protocol 2 subscribers when a user joins (their first socket subscribes) or leaves (their
   * last one goes), op 34; implies `presence`. Default false.
   */
  joinLeave?: boolean
}

/** How often one socket may subscribe: a token bucket per socket, refilled by the time elapsed (no timer). */
export interface SubscribeRateOptions {
  /** Subscriptions per second a socket may ask for on average. Default 20. */
  perSecond?: number
  /** Subscriptions a socket may ask for at once above the average. Default 50. */
  burst?: number
}

export interface ChannelsOptions {
  /** Channels one socket may be subscribed to at once (subscribing ones count). Default 128. */
  maxPerConnection?: number
  /**
   * Client-side subscriptions (op 30) one socket may ask for; beyond, they are refused with `rate-limited`.
   * `false` turns it off. Default `{ perSecond: 20, burst: 50 }`.
   */
  subscribeRate?: SubscribeRateOptions | false
  /**
   * Rules by channel-name prefix, the longest matching prefix wins; `''` is the default rule. Default: every
   * channel keeps history, without presence or join/leave events.
   */
  rules?: Record<string, ChannelRule>
}

type LogMethod = (fields: object, message?: string) => void

/**
 * Where the server logs (`options.logger`): pino's method signature, `logger.info({ port }, 'listening')`, so
 * pino itself (or a child of the application's pino) fits as it is. With `child`, the server logs through
 * `logger.child({ serverId })`.
 */
export interface MesaLogger {
  debug: LogMethod
  info: LogMethod
  warn: LogMethod
  error: LogMethod
  child?(bindings: Record<string, unknown>): MesaLogger
}

export interface MesaOptions {
  /** Port to listen on when no `server` is given; 0 picks a free one (read `mesa.port` after `listening()`). Default 4000. */
  port?: number
  /** Host to bind when listening on `port`. Default: every interface. */
  host?: string
  /** An existing http(s) server to accept WebSocket upgrades on (then `port` is ignored); Mesa neither starts nor closes it. */
  server?: HttpServer | HttpsServer
  /** Accept upgrades on this path only. Default: any path. */
  path?: string
  /** Namespace of the adapter (Redis keys and channels). Default: the adapter's, `'mesa'`. */
  namespace?: string
  /** Replication, presence, redelivery store and portal queue. Default `new MemoryAdapter({ namespace })`. */
  adapter?: Adapter
  /** Mesa 1.x shorthand: a Redis URL (or ioredis options) for `@mesa/redis-adapter`, loaded on demand. */
  redis?: string | Record<string, unknown>
  /** Largest accepted frame in bytes; a bigger one closes the socket with 1009. Default 1048576 (1 MiB). */
  maxPayload?: number
  /**
   * Bytes that may wait in a socket's send buffer. A client that reads slower than it is sent to would make
   * the server hold ever more memory: past this bound nothing more is written to it and it is closed with
   * `CloseCode.SlowConsumer` (4007; its client reconnects and, with `sync`, resumes what it missed).
   * Default 1048576 (1 MiB; Mesa 1.x had no bound, the first Mesa 2 releases 16 MiB).
   */
  maxBufferedAmount?: number
  /** Id of this server on the adapter (envelope origin, portal events). Default: random. */
  id?: string
  /**
   * Origins (`Origin` header, e.g. `'https://app.example.com'`) whose pages may connect; others get HTTP 403 at
   * the upgrade. Compared without regard to case. Requests without an `Origin` (not from a browser) pass.
   * Default: every origin.
   */
  allowedOrigins?: readonly string[]
  /**
   * Decides at the HTTP upgrade, before any WebSocket exists, whether to accept a connection (sync or async):
   * `true` accepts, `false` answers 403, `{ status, reason }` that status (e.g. 401). A throw or rejection
   * answers 500 and is reported through `error`. Default: accept.
   */
  verifyConnection?: (request: IncomingMessage) => ConnectionVerdict | Promise<ConnectionVerdict>
  limits?: LimitsOptions
  client?: ClientOptions
  options?: ServerBehaviourOptions
  sync?: SyncOptions
  portal?: PortalOptions
  heartbeat?: HeartbeatOptions
  reconnect?: ReconnectOptions
  authentication?: AuthenticationOptions
  /** Channels: limits and rules by prefix (see the README). */
  channels?: ChannelsOptions
  requests?: RequestsOptions
  acks?: AcksOptions
  /**
   * A pino-compatible logger: connections and closes at `debug`, the server's start and stop at `info`, every
   * error it reports at `warn` (a client's fault) or `error`, with its `code`. Default: none, nothing is logged
   * (an error nobody listens to is printed once per code, see the README).
   */
  logger?: MesaLogger
}

export interface ResolvedConfig {
  port: number
  host: string | undefined
  server: HttpServer | HttpsServer | undefined
  path: string | undefined
  namespace: string | undefined
  adapter: Adapter | undefined
  redis: string | Record<string, unknown> | undefined
  maxPayload: number
  maxBufferedAmount: number
  id: string | undefined
  allowedOrigins: readonly string[] | undefined
  verifyConnection: MesaOptions['verifyConnection']
  limits: ResolvedLimits
  client: Required<ClientOptions>
  options: Required<ServerBehaviourOptions>
  sync: Required<SyncOptions>
  portal: Required<PortalOptions>
  heartbeat: Required<HeartbeatOptions>
  reconnect: Required<ReconnectOptions>
  authentication: Required<Omit<AuthenticationOptions, 'upgradeCredentials'>> & {
    upgradeCredentials: { query: string | undefined; header: string | undefined }
  }
  channels: ResolvedChannels
  requests: Required<RequestsOptions>
  acks: Required<AcksOptions>
  logger: MesaLogger | undefined
}

export interface ResolvedChannels {
  maxPerConnection: number
  /** undefined: no subscribe rate limit. */
  subscribeRate: Required<SubscribeRateOptions> | undefined
  /** Each prefix's rule, the default one under `''`. */
  rules: Record<string, Required<ChannelRule>> & { '': Required<ChannelRule> }
}

export interface ResolvedLimits {
  maxPayloadBeforeAuthentication: number
  maxDepth: number
  maxKeys: number
  /** undefined: no rate limit. */
  rate: Required<RateLimitOptions> | undefined
  maxConnectionsPerIp: number
  maxConnectionsPerUser: number
  maxBufferedBytes: number
  maxStoredMessageBytes: number
  closeTimeout: number
  handshakeTimeout: number
}

export const DEFAULT_PORT = 4000
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024
export const DEFAULT_MAX_BUFFERED_AMOUNT = 1024 * 1024
/** Defaults of `limits`, documented on `LimitsOptions`. */
export const DEFAULT_LIMITS = {
  maxPayloadBeforeAuthentication: 32 * 1024,
  maxDepth: 32,
  maxKeys: 20_000,
  rate: { messagesPerSecond: 200, messageBurst: 500, bytesPerSecond: 1024 * 1024, byteBurst: 4 * 1024 * 1024, action: 'close' },
  maxConnectionsPerIp: 0,
  maxConnectionsPerUser: 0,
  maxBufferedBytes: 256 * 1024 * 1024,
  maxStoredMessageBytes: 1024 * 1024,
  closeTimeout: 2000,
  handshakeTimeout: 10_000,
} as const satisfies ResolvedLimits
/** Default of `authentication.refreshBefore`. */
export const DEFAULT_REFRESH_BEFORE = 30_000
/** Defaults of `requests`, documented on `RequestsOptions`. */
export const DEFAULT_REQUESTS = { maxPending: 64, timeout: 30_000 } as const satisfies Required<RequestsOptions>
/** Defaults of `acks`, documented on `AcksOptions`. */
export const DEFAULT_ACKS = {
  window: 5 * 60_000,
  lease: 30_000,
  maxInFlight: 64,
  maxInFlightBytes: 4 * 1024 * 1024,
} as const satisfies Required<AcksOptions>
/** Largest timer delay Node accepts; longer intervals would fire at once. */
const MAX_DELAY = 2 ** 31 - 1

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`
  return typeof value
}

function fail(name: string, expected: string, value: unknown): never {
  throw new ConfigError(`Mesa: option "${name}" must be ${expected}, got ${describe(value)}`)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Every option name of each section, checked against the option types so the lists cannot drift from them. */
const KNOWN_OPTIONS = {
  '': {
    port: true,
    host: true,
    server: true,
    path: true,
    namespace: true,
    adapter: true,
    redis: true,
    maxPayload: true,
    maxBufferedAmount: true,
    id: true,
    allowedOrigins: true,
    verifyConnection: true,
    limits: true,
    client: true,
    options: true,
    sync: true,
    portal: true,
    heartbeat: true,
    reconnect: true,
    authentication: true,
    channels: true,
    requests: true,
    acks: true,
    logger: true,
  } satisfies Record<keyof MesaOptions, true>,
  channels: { maxPerConnection: true, subscribeRate: true, rules: true } satisfies Record<keyof ChannelsOptions, true>,
  'channels.subscribeRate': { perSecond: true, burst: true } satisfies Record<keyof SubscribeRateOptions, true>,
  /** The keys of each rule in `channels.rules`. */
  'channels.rules': { history: true, presence: true, joinLeave: true } satisfies Record<keyof ChannelRule, true>,
  client: { enforceEqualVersions: true, version: true } satisfies Record<keyof ClientOptions, true>,
  options: { storeMessages: true } satisfies Record<keyof ServerBehaviourOptions, true>,
  sync: { enabled: true, redeliveryInterval: true } satisfies Record<keyof SyncOptions, true>,
  portal: { enabled: true, distributeLoad: true } satisfies Record<keyof PortalOptions, true>,
  heartbeat: { enabled: true, interval: true, maxAttempts: true } satisfies Record<keyof HeartbeatOptions, true>,
  reconnect: { enabled: true, interval: true } satisfies Record<keyof ReconnectOptions, true>,
  authentication: {
    timeout: true,
    required: true,
    sendUserObject: true,
    disconnectOnFail: true,
    storeConnectedUsers: true,
    upgradeCredentials: true,
    refreshBefore: true,
  } satisfies Record<keyof AuthenticationOptions, true>,
  requests: { maxPending: true, timeout: true } satisfies Record<keyof RequestsOptions, true>,
  acks: { window: true, lease: true, maxInFlight: true, maxInFlightBytes: true } satisfies Record<keyof AcksOptions, true>,
  'authentication.upgradeCredentials': { query: true, header: true } satisfies Record<
    keyof NonNullable<AuthenticationOptions['upgradeCredentials']>,
    true
  >,
  limits: {
    maxPayloadBeforeAuthentication: true,
    maxDepth: true,
    maxKeys: true,
    rate: true,
    maxConnectionsPerIp: true,
    maxConnectionsPerUser: true,
    maxBufferedBytes: true,
    maxStoredMessageBytes: true,
    closeTimeout: true,
    handshakeTimeout: true,
  } satisfies Record<keyof LimitsOptions, true>,
  'limits.rate': {
    messagesPerSecond: true,
    messageBurst: true,
    bytesPerSecond: true,
    byteBurst: true,
    action: true,
  } satisfies Record<keyof RateLimitOptions, true>,
} as const

type SectionName = keyof typeof KNOWN_OPTIONS

/** Edit distance with transpositions (optimal string alignment): `hearbeat` is 1 from `heartbeat`. */
function distance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1)
      rows[i]![j] = best
    }
  }
  return rows[a.length]![b.length]!
}

/** The known name closest to `name`, when it is close enough to be what was meant. */
export function closestOption(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined
}

/**
 * Rejects an option the section does not have (JavaScript callers get no compiler to catch `hearbeat`), naming
 * the closest valid one.
 */
function checkKnown(section: SectionName, value: Record<string, unknown>, name: string = section): void {
  const known = Object.keys(KNOWN_OPTIONS[section])
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue
    const prefix = name === '' ? '' : `${name}.`
    const suggestion = closestOption(key, known)
    throw new ConfigError(
      `Mesa: unknown option "${prefix}${key}"${suggestion === undefined ? '' : `; did you mean "${prefix}${suggestion}"?`}`,
    )
  }
}

function section(name: Exclude<SectionName, ''>, value: unknown): Record<string, unknown> {
  if (value === undefined) return {}
  if (!isObject(value)) fail(name, 'an object', value)
  checkKnown(name, value)
  return value
}

function bool(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') fail(name, 'a boolean', value)
  return value
}

function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(name, `an integer from ${min} to ${max}`, value)
  }
  return value
}

/** A port: an integer, or a string of digits (`process.env.PORT`). */
function port(value: unknown): number {
  if (typeof value === 'string' && /^\d{1,5}$/.test(value)) return integer('port', Number(value), DEFAULT_PORT, 0, 65535)
  return integer('port', value, DEFAULT_PORT, 0, 65535)
}

function text(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length === 0) fail(name, 'a non-empty string', value)
  return value
}

function isAdapter(value: unknown): value is Adapter {
  if (!isObject(value)) return false
  return (
    typeof value.publish === 'function' &&
    typeof value.subscribe === 'function' &&
    typeof value.close === 'function' &&
    isObject(value.store) &&
    isObject(value.presence) &&
    isObject(value.portal)
  )
}

function isLogger(value: unknown): value is MesaLogger {
  if (!isObject(value)) return false
  const methods = ['debug', 'info', 'warn', 'error'] as const
  return methods.every((method) => typeof value[method] === 'function') && (value.child === undefined || typeof value.child === 'function')
}

function isHttpServer(value: unknown): value is HttpServer {
  return isObject(value) && typeof value.on === 'function' && typeof value.listen === 'function'
}

/** Validates every option and fills in the documented defaults; throws `ConfigError` naming the option. */
export function resolveConfig(input: unknown): ResolvedConfig {
  if (input !== undefined && !isObject(input)) fail('options', 'an object', input)
  const options = (input ?? {}) as MesaOptions & Record<string, unknown>
  checkKnown('', options)
  if (options.server !== undefined && !isHttpServer(options.server)) {
    fail('server', 'an http or https server', options.server)
  }
  const path = text('path', options.path)
  if (path !== undefined && !path.startsWith('/')) fail('path', 'a path starting with "/"', path)
  if (options.adapter !== undefined && !isAdapter(options.adapter)) {
    fail('adapter', 'an Adapter (publish, subscribe, close, store, presence, portal)', options.adapter)
  }
  if (options.adapter !== undefined && options.redis !== undefined) {
    throw new ConfigError('Mesa: options "adapter" and "redis" exclude each other: give one')
  }
  if (options.redis !== undefined && !(typeof options.redis === 'string' && options.redis.length > 0)) {
    if (!isObject(options.redis)) fail('redis', 'a Redis URL or an ioredis options object', options.redis)
  }
  const namespace = text('namespace', options.namespace)
  if (namespace !== undefined && options.adapter !== undefined && options.adapter.namespace !== namespace) {
    throw new ConfigError(
      `Mesa: option "namespace" must equal the adapter's namespace "${options.adapter.namespace}", got ${describe(namespace)}`,
    )
  }
  const allowedOrigins = options.allowedOrigins
  if (
    allowedOrigins !== undefined &&
    !(Array.isArray(allowedOrigins) && allowedOrigins.every((origin) => typeof origin === 'string' && origin.length > 0))
  ) {
    fail('allowedOrigins', 'an array of origins (non-empty strings)', allowedOrigins)
  }
  if (options.verifyConnection !== undefined && typeof options.verifyConnection !== 'function') {
    fail('verifyConnection', 'a function (request) => boolean | { status, reason }', options.verifyConnection)
  }

  if (options.logger !== undefined && !isLogger(options.logger)) {
    fail('logger', 'a logger with debug, info, warn and error methods (pino, or one shaped like it)', options.logger)
  }

  const client = section('client', options.client)
  const behaviour = section('options', options.options)
  const sync = section('sync', options.sync)
  const portal = section('portal', options.portal)
  const heartbeat = section('heartbeat', options.heartbeat)
  const reconnect = section('reconnect', options.reconnect)
  const authentication = section('authentication', options.authentication)
  const upgradeCredentials = section('authentication.upgradeCredentials', authentication.upgradeCredentials)
  const requests = section('requests', options.requests)
  const version = client.version === undefined ? String(PROTOCOL_VERSION) : text('client.version', client.version)!
  const maxPayload = integer('maxPayload', options.maxPayload, DEFAULT_MAX_PAYLOAD, 64, 2 ** 31 - 1)

  return {
    port: port(options.port),
    host: text('host', options.host),
    server: options.server,
    path,
    namespace,
    adapter: options.adapter,
    redis: options.redis,
    maxPayload,
    maxBufferedAmount: integer('maxBufferedAmount', options.maxBufferedAmount, DEFAULT_MAX_BUFFERED_AMOUNT, 1024, Number.MAX_SAFE_INTEGER),
    id: text('id', options.id),
    allowedOrigins: allowedOrigins === undefined ? undefined : [...allowedOrigins],
    verifyConnection: options.verifyConnection,
    limits: resolveLimits(options.limits, maxPayload),
    client: {
      enforceEqualVersions: bool('client.enforceEqualVersions', client.enforceEqualVersions, false),
      version,
    },
    options: { storeMessages: bool('options.storeMessages', behaviour.storeMessages, false) },
    sync: {
      enabled: bool('sync.enabled', sync.enabled, false),
      redeliveryInterval: integer('sync.redeliveryInterval', sync.redeliveryInterval, 0, 0, MAX_DELAY),
    },
    portal: {
      enabled: bool('portal.enabled', portal.enabled, false),
      distributeLoad: bool('portal.distributeLoad', portal.distributeLoad, true),
    },
    heartbeat: {
      enabled: bool('heartbeat.enabled', heartbeat.enabled, true),
      interval: integer('heartbeat.interval', heartbeat.interval, 10_000, 1, MAX_DELAY),
      maxAttempts: integer('heartbeat.maxAttempts', heartbeat.maxAttempts, 3, 0, 1_000_000),
    },
    reconnect: {
      enabled: bool('reconnect.enabled', reconnect.enabled, false),
      interval: integer('reconnect.interval', reconnect.interval, 5000, 1, MAX_DELAY),
    },
    authentication: {
      timeout: integer('authentication.timeout', authentication.timeout, 10_000, 0, MAX_DELAY),
      required: bool('authentication.required', authentication.required, false),
      sendUserObject: bool('authentication.sendUserObject', authentication.sendUserObject, true),
      disconnectOnFail: bool('authentication.disconnectOnFail', authentication.disconnectOnFail, true),
      storeConnectedUsers: bool('authentication.storeConnectedUsers', authentication.storeConnectedUsers, true),
      upgradeCredentials: {
        query: text('authentication.upgradeCredentials.query', upgradeCredentials.query),
        header: headerName(upgradeCredentials.header),
      },
      refreshBefore: integer('authentication.refreshBefore', authentication.refreshBefore, DEFAULT_REFRESH_BEFORE, 0, MAX_DELAY),
    },
    channels: resolveChannels(options.channels),
    requests: {
      maxPending: integer('requests.maxPending', requests.maxPending, DEFAULT_REQUESTS.maxPending, 1, 1_000_000),
      timeout: integer('requests.timeout', requests.timeout, DEFAULT_REQUESTS.timeout, 1, MAX_DELAY),
    },
    acks: resolveAcks(options.acks, maxPayload),
    logger: options.logger,
  }
}

/** Defaults of `channels`, documented on `ChannelsOptions`. */
export const DEFAULT_CHANNELS = {
  maxPerConnection: 128,
  subscribeRate: { perSecond: 20, burst: 50 },
  rule: { history: true, presence: false, joinLeave: false },
} as const

/** A rule's prefix: what a channel name may start with (its characters, at most a name's length). */
const RULE_PREFIX = /^[A-Za-z0-9_\-:.@/=,+!~]{0,256}$/

function resolveChannels(value: unknown): ResolvedChannels {
  const channels = section('channels', value)
  const rules: ResolvedChannels['rules'] = { '': { ...DEFAULT_CHANNELS.rule } }
  if (channels.rules !== undefined) {
    if (!isObject(channels.rules)) fail('channels.rules', 'an object of rules by channel-name prefix', channels.rules)
    for (const [prefix, rule] of Object.entries(channels.rules)) {
      const name = `channels.rules[${JSON.stringify(prefix)}]`
      if (!RULE_PREFIX.test(prefix)) fail(name, 'keyed by a channel-name prefix (letters, digits and _ - : . @ / = , + ! ~)', prefix)
      if (!isObject(rule)) fail(name, 'an object { history?, presence?, joinLeave? }', rule)
      checkKnown('channels.rules', rule, name)
      const joinLeave = bool(`${name}.joinLeave`, rule.joinLeave, DEFAULT_CHANNELS.rule.joinLeave)
      rules[prefix] = {
        history: bool(`${name}.history`, rule.history, DEFAULT_CHANNELS.rule.history),
        presence: bool(`${name}.presence`, rule.presence, DEFAULT_CHANNELS.rule.presence) || joinLeave,
        joinLeave,
      }
    }
  }
  let subscribeRate: Required<SubscribeRateOptions> | undefined
  if (channels.subscribeRate !== false) {
    const rate = section('channels.subscribeRate', channels.subscribeRate)
    const defaults = DEFAULT_CHANNELS.subscribeRate
    subscribeRate = {
      perSecond: integer('channels.subscribeRate.perSecond', rate.perSecond, defaults.perSecond, 1, Number.MAX_SAFE_INTEGER),
      burst: integer('channels.subscribeRate.burst', rate.burst, defaults.burst, 1, Number.MAX_SAFE_INTEGER),
    }
  }
  return {
    maxPerConnection: integer('channels.maxPerConnection', channels.maxPerConnection, DEFAULT_CHANNELS.maxPerConnection, 1, 1_000_000),
    subscribeRate,
    rules,
  }
}

function headerName(value: unknown): string | undefined {
  const name = text('authentication.upgradeCredentials.header', value)
  if (name !== undefined && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
    fail('authentication.upgradeCredentials.header', 'an HTTP header name', name)
  }
  return name?.toLowerCase()
}

function resolveLimits(value: unknown, maxPayload: number): ResolvedLimits {
  const limits = section('limits', value)
  const defaults = DEFAULT_LIMITS
  const count = (name: keyof LimitsOptions, fallback: number, min: number): number =>
    integer(`limits.${name}`, limits[name], fallback, min, Number.MAX_SAFE_INTEGER)
  return {
    maxPayloadBeforeAuthentication: Math.min(
      integer('limits.maxPayloadBeforeAuthentication', limits.maxPayloadBeforeAuthentication, defaults.maxPayloadBeforeAuthentication, 64, 2 ** 31 - 1),
      maxPayload,
    ),
    maxDepth: integer('limits.maxDepth', limits.maxDepth, defaults.maxDepth, 1, 10_000),
    maxKeys: count('maxKeys', defaults.maxKeys, 1),
    rate: resolveRate(limits.rate, maxPayload),
    maxConnectionsPerIp: count('maxConnectionsPerIp', defaults.maxConnectionsPerIp, 0),
    maxConnectionsPerUser: count('maxConnectionsPerUser', defaults.maxConnectionsPerUser, 0),
    maxBufferedBytes: count('maxBufferedBytes', defaults.maxBufferedBytes, 1024),
    maxStoredMessageBytes: count('maxStoredMessageBytes', defaults.maxStoredMessageBytes, 0),
    closeTimeout: integer('limits.closeTimeout', limits.closeTimeout, defaults.closeTimeout, 1, MAX_DELAY),
    handshakeTimeout: integer('limits.handshakeTimeout', limits.handshakeTimeout, defaults.handshakeTimeout, 1, MAX_DELAY),
  }
}

function resolveAcks(value: unknown, maxPayload: number): Required<AcksOptions> {
  const acks = section('acks', value)
  const defaults = DEFAULT_ACKS
  const maxInFlightBytes = integer(
    'acks.maxInFlightBytes',
    acks.maxInFlightBytes,
    Math.max(defaults.maxInFlightBytes, maxPayload),
    1,
    Number.MAX_SAFE_INTEGER,
  )
  if (maxInFlightBytes < maxPayload) {
    fail('acks.maxInFlightBytes', `at least maxPayload (${maxPayload}), or a frame of maxPayload bytes could never be sent with an acknowledgement`, maxInFlightBytes)
  }
  return {
    window: integer('acks.window', acks.window, defaults.window, 1, Number.MAX_SAFE_INTEGER),
    lease: integer('acks.lease', acks.lease, defaults.lease, 1, Number.MAX_SAFE_INTEGER),
    maxInFlight: integer('acks.maxInFlight', acks.maxInFlight, defaults.maxInFlight, 1, 1_000_000),
    maxInFlightBytes,
  }
}

function resolveRate(value: unknown, maxPayload: number): Required<RateLimitOptions> | undefined {
  if (value === false) return undefined
  const rate = section('limits.rate', value)
  const defaults = DEFAULT_LIMITS.rate
  const positive = (name: keyof RateLimitOptions, fallback: number): number =>
    integer(`limits.rate.${name}`, rate[name], fallback, 1, Number.MAX_SAFE_INTEGER)
  const byteBurst = positive('byteBurst', Math.max(defaults.byteBurst, maxPayload))
  if (byteBurst < maxPayload) {
    fail('limits.rate.byteBurst', `at least maxPayload (${maxPayload}), or a frame of maxPayload bytes could never pass`, byteBurst)
  }
  const action = rate.action ?? defaults.action
  if (action !== 'close' && action !== 'drop') fail('limits.rate.action', '"close" or "drop"', action)
  return {
    messagesPerSecond: positive('messagesPerSecond', defaults.messagesPerSecond),
    messageBurst: positive('messageBurst', defaults.messageBurst),
    bytesPerSecond: positive('bytesPerSecond', defaults.bytesPerSecond),
    byteBurst,
    action,
  }
}
