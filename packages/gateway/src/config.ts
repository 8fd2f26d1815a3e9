import { createPublicKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { MesaError } from '@mesa/core'
import type { ChannelRule } from '@mesa/server'
import {
  DEFAULT_CHANNELS_CLAIM,
  defaultAlgorithm,
  HMAC_ALGORITHMS,
  Invalid,
  type JwtAlgorithm,
  type LogLevel,
  type RateLimitAction,
  type Setting,
  SETTINGS,
  type SettingValues,
} from './settings.js'

/** How clients authenticate without application code: a JWT in `client.authenticate({ token })`. */
export interface JwtConfig {
  /** HS256/384/512 secret. */
  secret?: string
  /** PEM public key (RS*, PS*, ES*, EdDSA). */
  publicKey?: string
  /** URL of a JSON Web Key Set, fetched and cached by `jose`. */
  jwksUrl?: string
  /** Accepted algorithms. Default: HS256 with a secret, the key's own with a public key, RS256 and ES256 with JWKS. */
  algorithms: JwtAlgorithm[]
  /** Required `iss`. */
  issuer?: string
  /** Required `aud`. */
  audience?: string
  /** Seconds of clock skew tolerated on `exp` and `nbf`. */
  clockTolerance: number
  /**
   * The claim listing the channels a client may subscribe to itself: names, and `prefix*` patterns. Default
   * `channels`. Tokens without it get no client-side subscriptions.
   */
  channelsClaim: string
}

/** The gateway's configuration, every default filled in (see the README for each setting's variable). */
export interface GatewayConfig {
  port: number
  host?: string
  path: string
  namespace?: string
  redisUrl?: string
  heartbeat: { enabled: boolean; interval: number; maxAttempts: number }
  reconnectInterval: number
  authentication: { required: boolean; timeout: number; sendUserObject: boolean }
  sync: { enabled: boolean; redeliveryInterval: number }
  retention: { maxEntries: number; maxAgeMs: number }
  limits: {
    maxPayload: number
    maxBufferedAmount: number
    maxRequestBody: number
    maxPayloadBeforeAuthentication: number
    /** 0: no cap. */
    maxConnectionsPerIp: number
    /** 0: no cap. */
    maxConnectionsPerUser: number
    maxBufferedBytes: number
    /** Per socket; `byteBurst` left out: the server's default (4 MiB, at least `maxPayload`). */
    rate: {
      enabled: boolean
      messagesPerSecond: number
      messageBurst: number
      bytesPerSecond: number
      byteBurst?: number
      action: RateLimitAction
    }
  }
  channels: {
    /** Channels one socket may be subscribed to at once (the server's `channels.maxPerConnection`). */
    maxPerConnection: number
    /** Channels the API's `subscribe` keeps per user (the Dispatcher's `maxChannelsPerUser`). */
    maxPerUser: number
    /** The server's `channels.rules`: history, presence and join/leave events by channel-name prefix. */
    rules: Record<string, ChannelRule>
  }
  /** Origins browsers may open WebSockets from: empty = the gateway's own origin only, `['*']` = any. */
  allowedOrigins: string[]
  /** Enables the HTTP API and the admin page. */
  apiKey?: string
  /** Lets a scraper read `/metrics` (so does the API key). */
  metricsToken?: string
  jwt?: JwtConfig
  logLevel: LogLevel
  /** Files served at `/` (index.html for directories). */
  staticDir?: string
}

type DeepPartial<T> = {
  [K in keyof T]?: NonNullable<T[K]> extends unknown[] ? T[K] : NonNullable<T[K]> extends object ? DeepPartial<NonNullable<T[K]>> : T[K]
}

/** The configuration as given in code or in the JSON file: any setting may be left out. */
export type GatewaySettings = DeepPartial<GatewayConfig>

/** Invalid configuration: `problems` has one line per invalid setting, naming it. */
export class GatewayConfigError extends MesaError {
  declare readonly code: 'invalid-config'
  readonly problems: string[]

  constructor(problems: string[]) {
    super('invalid-config', `invalid gateway configuration:\n  ${problems.join('\n  ')}`)
    this.problems = problems
  }
}

/** Where a setting's value comes from, and the name an error message gives it there. */
interface Source {
  value(setting: Setting<unknown>): { value: unknown; name: string } | undefined
}

function lookup(object: unknown, path: string): unknown {
  let value = object
  for (const key of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined
    value = (value as Record<string, unknown>)[key]
  }
  return value
}

/** Variables that are unset or blank count as unset. `PORT` (what hosting platforms set) stands in for `MESA_PORT`. */
function envSource(env: Record<string, string | undefined>): Source {
  return {
    value(setting) {
      for (const name of setting === SETTINGS.port ? [setting.env, 'PORT'] : [setting.env]) {
        const value = env[name]?.trim()
        if (value) return { value, name }
      }
      return undefined
    },
  }
}

function objectSource(object: object, where?: string): Source {
  return {
    value(setting) {
      const value = lookup(object, setting.path)
      if (value === undefined) return undefined
      return { value, name: where === undefined ? setting.path : `${setting.path} (${where})` }
    },
  }
}

/** Keys of `object` that are no setting, as dotted paths (`prefix` is the path of `object` itself). */
function unknownKeys(object: object, prefix = ''): string[] {
  const known = Object.values(SETTINGS).map((setting) => setting.path)
  const unknown: string[] = []
  for (const [key, value] of Object.entries(object)) {
    const path = `${prefix}${key}`
    if (known.includes(path)) continue
    const section = known.some((setting) => setting.startsWith(`${path}.`))
    if (section && typeof value === 'object' && value !== null && !Array.isArray(value)) unknown.push(...unknownKeys(value, `${path}.`))
    else unknown.push(path)
  }
  return unknown
}

function describe(value: unknown, secret = false): string {
  if (secret && typeof value === 'string') return `a value of ${value.length} characters`
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value)
  if (Array.isArray(value)) return 'an array'
  return value === null ? 'null' : `${typeof value} ${typeof value === 'object' ? '' : String(value)}`.trim()
}

/** Reads every setting from the first source that has it; invalid ones become problems, naming the setting. */
function readSettings(sources: readonly Source[], problems: string[]): { values: SettingValues; names: Record<string, string> } {
  const values: Record<string, unknown> = {}
  const names: Record<string, string> = {}
  for (const [key, setting] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    names[key] = setting.env
    values[key] = setting.fallback
    const found = sources.map((source) => source.value(setting)).find((entry) => entry !== undefined)
    if (found === undefined) continue
    names[key] = found.name
    try {
      values[key] = setting.read(found.value)
    } catch (error) {
      if (!(error instanceof Invalid)) throw error
      problems.push(`${found.name} must be ${error.message}, got ${describe(found.value, setting.secret)}`)
    }
  }
  return { values: values as SettingValues, names }
}

function jwtConfig(values: SettingValues, names: Record<string, string>, problems: string[]): JwtConfig | undefined {
  const keys = (['jwtSecret', 'jwtPublicKey', 'jwksUrl'] as const).filter((key) => values[key] !== undefined)
  if (keys.length > 1) {
    problems.push(`${keys.map((key) => names[key]).join(' and ')} exclude each other: set one`)
    return undefined
  }
  const key = keys[0]
  if (key === undefined) {
    for (const option of ['jwtAlgorithms', 'jwtIssuer', 'jwtAudience', 'jwtChannelsClaim'] as const) {
      const value = values[option]
      if (value !== undefined && !(Array.isArray(value) && value.length === 0)) {
        problems.push(`${names[option]} needs a key: ${names.jwtSecret}, ${names.jwtPublicKey} or ${names.jwksUrl}`)
      }
    }
    return undefined
  }
  let algorithms = values.jwtAlgorithms
  const hmac = (algorithm: JwtAlgorithm) => (HMAC_ALGORITHMS as readonly string[]).includes(algorithm)
  if (algorithms.length === 0) {
    if (key === 'jwtSecret') algorithms = ['HS256']
    else if (key === 'jwksUrl') algorithms = ['RS256', 'ES256']
    else {
      const algorithm = defaultAlgorithm(createPublicKey(values.jwtPublicKey!))
      if (algorithm === undefined) {
        problems.push(`${names.jwtPublicKey}: cannot tell its algorithm; set ${names.jwtAlgorithms}`)
        return undefined
      }
      algorithms = [algorithm]
    }
  } else if (algorithms.some((algorithm) => hmac(algorithm) !== (key === 'jwtSecret'))) {
    problems.push(
      key === 'jwtSecret'
        ? `${names.jwtAlgorithms} must be HS256, HS384 or HS512 with ${names.jwtSecret}`
        : `${names.jwtAlgorithms} must be public-key algorithms (RS*, PS*, ES*, EdDSA) with ${names[key]}`,
    )
  }
  const jwt: JwtConfig = { algorithms, clockTolerance: values.jwtClockTolerance, channelsClaim: values.jwtChannelsClaim ?? DEFAULT_CHANNELS_CLAIM }
  if (values.jwtSecret !== undefined) jwt.secret = values.jwtSecret
  if (values.jwtPublicKey !== undefined) jwt.publicKey = values.jwtPublicKey
  if (values.jwksUrl !== undefined) jwt.jwksUrl = values.jwksUrl
  if (values.jwtIssuer !== undefined) jwt.issuer = values.jwtIssuer
  if (values.jwtAudience !== undefined) jwt.audience = values.jwtAudience
  return jwt
}

function build(sources: readonly Source[], problems: string[]): GatewayConfig {
  const { values, names } = readSettings(sources, problems)
  const jwt = jwtConfig(values, names, problems)
  if (values.rateByteBurst !== undefined && values.rateByteBurst < values.maxPayload) {
    problems.push(`${names.rateByteBurst} must be at least ${names.maxPayload} (${values.maxPayload}), or a frame of that size could never pass`)
  }
  if (problems.length > 0) throw new GatewayConfigError(problems)
  const config: GatewayConfig = {
    port: values.port,
    path: values.path,
    heartbeat: { enabled: values.heartbeatEnabled, interval: values.heartbeatInterval, maxAttempts: values.heartbeatMaxAttempts },
    reconnectInterval: values.reconnectInterval,
    authentication: { required: values.authRequired, timeout: values.authTimeout, sendUserObject: values.authSendUserObject },
    sync: { enabled: values.syncEnabled, redeliveryInterval: values.redeliveryInterval },
    retention: { maxEntries: values.retentionMaxEntries, maxAgeMs: values.retentionMaxAge },
    limits: {
      maxPayload: values.maxPayload,
      maxBufferedAmount: values.maxBufferedAmount,
      maxRequestBody: values.maxRequestBody,
      maxPayloadBeforeAuthentication: values.maxPayloadBeforeAuthentication,
      maxConnectionsPerIp: values.maxConnectionsPerIp,
      maxConnectionsPerUser: values.maxConnectionsPerUser,
      maxBufferedBytes: values.maxBufferedBytes,
      rate: {
        enabled: values.rateEnabled,
        messagesPerSecond: values.rateMessagesPerSecond,
        messageBurst: values.rateMessageBurst,
        bytesPerSecond: values.rateBytesPerSecond,
        action: values.rateAction,
      },
    },
    channels: { maxPerConnection: values.channelsMaxPerConnection, maxPerUser: values.channelsMaxPerUser, rules: values.channelRules },
    allowedOrigins: values.allowedOrigins,
    logLevel: values.logLevel,
  }
  if (values.host !== undefined) config.host = values.host
  if (values.namespace !== undefined) config.namespace = values.namespace
  if (values.redisUrl !== undefined) config.redisUrl = values.redisUrl
  if (values.apiKey !== undefined) config.apiKey = values.apiKey
  if (values.metricsToken !== undefined) config.metricsToken = values.metricsToken
  if (jwt !== undefined) config.jwt = jwt
  if (values.staticDir !== undefined) config.staticDir = values.staticDir
  if (values.rateByteBurst !== undefined) config.limits.rate.byteBurst = values.rateByteBurst
  return config
}

function checkObject(value: unknown, what: string): asserts value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GatewayConfigError([`${what} must be an object, got ${describe(value)}`])
  }
}

/**
 * Validates settings given in code and fills in the defaults; throws `GatewayConfigError` naming every invalid
 * setting (by its path, e.g. `heartbeat.interval`).
 */
export function resolveConfig(settings: GatewaySettings): GatewayConfig {
  checkObject(settings, 'the gateway options')
  const problems = unknownKeys(settings).map((key) => `${key} is not a gateway setting`)
  return build([objectSource(settings)], problems)
}

/** The variable naming a JSON file of settings (same shape as `startGateway`'s options). */
export const CONFIG_FILE_VARIABLE = 'MESA_CONFIG'

/**
 * The configuration from environment variables (`MESA_*`, see the README) and, when `MESA_CONFIG` names one, a
 * JSON file of settings; a variable overrides the file. Throws `GatewayConfigError` naming every invalid
 * variable or file setting at once.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const sources: Source[] = [envSource(env)]
  const problems: string[] = []
  const file = env[CONFIG_FILE_VARIABLE]?.trim()
  if (file) {
    let settings: unknown
    try {
      settings = JSON.parse(readFileSync(file, 'utf8'))
    } catch (error) {
      throw new GatewayConfigError([
        `${CONFIG_FILE_VARIABLE} must name a readable JSON file, got ${JSON.stringify(file)}: ${(error as Error).message}`,
      ])
    }
    checkObject(settings, `${CONFIG_FILE_VARIABLE} (${file})`)
    problems.push(...unknownKeys(settings).map((key) => `${key} (${file}) is not a gateway setting`))
    sources.push(objectSource(settings, file))
  }
  return build(sources, problems)
}
