import type { Server as HttpServer, IncomingMessage } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import type { Adapter } from '@mesa/core/server'

// The server's options: their types, documented defaults and resolved forms. `config.ts` validates them.

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

/** Defaults of `channels`, documented on `ChannelsOptions`. */
export const DEFAULT_CHANNELS = {
  maxPerConnection: 128,
  subscribeRate: { perSecond: 20, burst: 50 },
  rule: { history: true, presence: false, joinLeave: false },
} as const
