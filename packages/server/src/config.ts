import type { Server as HttpServer } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import { type Adapter, ConfigError, PROTOCOL_VERSION } from '@mesa/core'

export interface HeartbeatOptions {
  /** Send op 1 heartbeats and close sockets that stop answering. Default false. */
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
}

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
   * the server hold ever more memory: past this bound its socket is cut (its client reconnects and, with
   * `sync`, resumes what it missed). Default 16777216 (16 MiB).
   */
  maxBufferedAmount?: number
  /** Id of this server on the adapter (envelope origin, portal events). Default: random. */
  id?: string
  client?: ClientOptions
  options?: ServerBehaviourOptions
  sync?: SyncOptions
  portal?: PortalOptions
  heartbeat?: HeartbeatOptions
  reconnect?: ReconnectOptions
  authentication?: AuthenticationOptions
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
  client: Required<ClientOptions>
  options: Required<ServerBehaviourOptions>
  sync: Required<SyncOptions>
  portal: Required<PortalOptions>
  heartbeat: Required<HeartbeatOptions>
  reconnect: Required<ReconnectOptions>
  authentication: Required<AuthenticationOptions>
}

export const DEFAULT_PORT = 4000
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024
export const DEFAULT_MAX_BUFFERED_AMOUNT = 16 * 1024 * 1024
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

function section(name: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {}
  if (!isObject(value)) fail(name, 'an object', value)
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

function isHttpServer(value: unknown): value is HttpServer {
  return isObject(value) && typeof value.on === 'function' && typeof value.listen === 'function'
}

/** Validates every option and fills in the documented defaults; throws `ConfigError` naming the option. */
export function resolveConfig(input: unknown): ResolvedConfig {
  const options = section('options', input) as MesaOptions & Record<string, unknown>
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

  const client = section('client', options.client)
  const behaviour = section('options', options.options)
  const sync = section('sync', options.sync)
  const portal = section('portal', options.portal)
  const heartbeat = section('heartbeat', options.heartbeat)
  const reconnect = section('reconnect', options.reconnect)
  const authentication = section('authentication', options.authentication)
  const version = client.version === undefined ? String(PROTOCOL_VERSION) : text('client.version', client.version)!

  return {
    port: integer('port', options.port, DEFAULT_PORT, 0, 65535),
    host: text('host', options.host),
    server: options.server,
    path,
    namespace,
    adapter: options.adapter,
    redis: options.redis,
    maxPayload: integer('maxPayload', options.maxPayload, DEFAULT_MAX_PAYLOAD, 64, 2 ** 31 - 1),
    maxBufferedAmount: integer('maxBufferedAmount', options.maxBufferedAmount, DEFAULT_MAX_BUFFERED_AMOUNT, 1024, Number.MAX_SAFE_INTEGER),
    id: text('id', options.id),
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
      enabled: bool('heartbeat.enabled', heartbeat.enabled, false),
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
    },
  }
}
