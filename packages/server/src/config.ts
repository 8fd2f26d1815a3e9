import type { Server as HttpServer } from 'node:http'
import { ConfigError, PROTOCOL_VERSION } from '@mesa/core'
import type { Adapter } from '@mesa/core/server'
import { bool, checkKnown, describe, fail, integer, isObject, MAX_DELAY, section, text } from './option-checks.js'
import {
  DEFAULT_ACKS,
  DEFAULT_CHANNELS,
  DEFAULT_LIMITS,
  DEFAULT_MAX_BUFFERED_AMOUNT,
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_PORT,
  DEFAULT_REFRESH_BEFORE,
  DEFAULT_REQUESTS,
  type AcksOptions,
  type LimitsOptions,
  type MesaLogger,
  type MesaOptions,
  type RateLimitOptions,
  type ResolvedChannels,
  type ResolvedConfig,
  type ResolvedLimits,
  type SubscribeRateOptions,
} from './options.js'

/** A port: an integer, or a string of digits (`process.env.PORT`). */
function port(value: unknown): number {
  if (typeof value === 'string' && /^\d{1,5}$/.test(value)) return integer('port', Number(value), DEFAULT_PORT, 0, 65535)
  return integer('port', value, DEFAULT_PORT, 0, 65535)
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
