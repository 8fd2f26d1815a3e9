import { createPublicKey, type KeyObject } from 'node:crypto'
import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import { DEFAULT_MAX_CHANNELS_PER_USER } from '@mesa/dispatcher'
import { type ChannelRule, DEFAULT_CHANNELS, DEFAULT_LIMITS } from '@mesa/server'

/** Log levels, lowest first (pino's); `silent` logs nothing. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** JWT algorithms the gateway verifies: HMAC with a secret, or signatures checked with a public key / JWKS. */
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const
export const PUBLIC_KEY_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const
export type JwtAlgorithm = (typeof HMAC_ALGORITHMS)[number] | (typeof PUBLIC_KEY_ALGORITHMS)[number]

/** Shortest HS* secret accepted: RFC 7518 asks for a key at least as long as the hash (32 bytes for HS256). */
export const MIN_JWT_SECRET_BYTES = 32
/** Shortest API key accepted, so that a guessable one is refused at start rather than deployed. */
export const MIN_API_KEY_LENGTH = 16
/** The claim a token lists the channels its client may subscribe to in, when `jwt.channelsClaim` names none. */
export const DEFAULT_CHANNELS_CLAIM = 'channels'

/**
 * One setting: where it sits in the options object (`path`), the environment variable that sets it, how a
 * value is read, and its default. A value from the environment is a string; from a JSON file or code, it has
 * its JSON type (a string is accepted there too for numbers and booleans).
 */
export interface Setting<T> {
  path: string
  env: string
  /** Converts a value or throws `Invalid` with what was expected. */
  read: (value: unknown) => T
  fallback: T
  /** Never repeated in error messages (keys, secrets). */
  secret?: boolean
}

export class Invalid extends Error {}

const invalid = (expected: string): never => {
  throw new Invalid(expected)
}

const integer =
  (min: number, max: number) =>
  (value: unknown): number => {
    const number = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value
    if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < min || number > max) {
      invalid(`an integer from ${min} to ${max}`)
    }
    return number as number
  }

const boolean = (value: unknown): boolean => {
  if (typeof value === 'boolean') return value
  const lower = typeof value === 'string' ? value.trim().toLowerCase() : undefined
  if (lower === 'true' || lower === '1' || lower === 'yes' || lower === 'on') return true
  if (lower === 'false' || lower === '0' || lower === 'no' || lower === 'off') return false
  return invalid('true or false')
}

const oneOf =
  <T extends string>(values: readonly T[]) =>
  (value: unknown): T => {
    const lower = typeof value === 'string' ? value.trim().toLowerCase() : value
    if (!(values as readonly unknown[]).includes(lower)) invalid(`one of ${values.join(', ')}`)
    return lower as T
  }

const text =
  (expected: string, test: (value: string) => boolean = () => true) =>
  (value: unknown): string => {
    if (typeof value !== 'string' || value.length === 0 || !test(value)) invalid(expected)
    return value as string
  }

/** A list: an array, or a comma-separated string (the environment's spelling). */
const list =
  <T>(item: (value: string) => T, expected: string) =>
  (value: unknown): T[] => {
    const items = typeof value === 'string' ? value.split(',').map((part) => part.trim()).filter(Boolean) : value
    if (!Array.isArray(items) || items.some((entry) => typeof entry !== 'string')) invalid(expected)
    try {
      return (items as string[]).map(item)
    } catch {
      return invalid(expected)
    }
  }

function isUrl(value: string, protocols: readonly string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol)
  } catch {
    return false
  }
}

function origin(value: string): string {
  if (value === '*') return value
  const url = new URL(value)
  if (url.origin === 'null' || url.origin !== value.replace(/\/$/, '')) throw new Error('not an origin')
  return url.origin
}

function directory(value: unknown): string {
  const path = resolve(text('a directory')(value))
  try {
    if (statSync(path).isDirectory()) return path
  } catch {
    // Reported below, as any other invalid value.
  }
  return invalid(`an existing directory (resolved to ${path})`)
}

/** PEM text; `\n` escapes are newlines, since a PEM in one environment variable line is usually written so. */
function publicKey(value: unknown): string {
  const pem = text('a PEM public key')(value).replace(/\\n/g, '\n')
  try {
    createPublicKey(pem)
  } catch {
    invalid('a PEM public key (-----BEGIN PUBLIC KEY-----)')
  }
  return pem
}

function algorithm(value: string): JwtAlgorithm {
  const all: readonly string[] = [...HMAC_ALGORITHMS, ...PUBLIC_KEY_ALGORITHMS]
  if (!all.includes(value)) throw new Error('unknown algorithm')
  return value as JwtAlgorithm
}

/** The algorithm a public key signs with when none is configured: RS256, ES256/384/512 by curve, or EdDSA. */
export function defaultAlgorithm(key: KeyObject): JwtAlgorithm | undefined {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256'
    case 'ec':
      return ({ prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' } as const)[key.asymmetricKeyDetails?.namedCurve ?? ''] as
        | JwtAlgorithm
        | undefined
    case 'ed25519':
      return 'EdDSA'
    default:
      return undefined
  }
}

const MAX_DELAY = 2 ** 31 - 1
const DAY = 24 * 3_600_000
const MIB = 1024 * 1024
const MAX_COUNT = Number.MAX_SAFE_INTEGER

function setting<T>(path: string, env: string, read: (value: unknown) => T, fallback: T): Setting<T> {
  return { path, env, read, fallback }
}

/** A setting without a default. */
function unset<T>(path: string, env: string, read: (value: unknown) => T, secret = false): Setting<T | undefined> {
  return { path, env, read, fallback: undefined, secret }
}

const logLevel = oneOf(LOG_LEVELS)

const RULE_KEYS: readonly string[] = ['history', 'presence', 'joinLeave'] satisfies (keyof ChannelRule)[]

/** The server's `channels.rules`: an object (JSON in the environment) of rules by channel-name prefix. */
function channelRules(value: unknown): Record<string, ChannelRule> {
  const expected = 'rules by channel-name prefix, e.g. {"news:":{"presence":true}} (history, presence, joinLeave: booleans)'
  let rules = value
  if (typeof value === 'string') {
    try {
      rules = JSON.parse(value)
    } catch {
      invalid(`JSON of ${expected}`)
    }
  }
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)
  if (!isObject(rules)) return invalid(expected)
  for (const rule of Object.values(rules)) {
    if (!isObject(rule) || Object.entries(rule).some(([key, flag]) => !RULE_KEYS.includes(key) || typeof flag !== 'boolean')) invalid(expected)
  }
  return rules as Record<string, ChannelRule>
}

/** What the server does with a socket over its rate limit. */
export const RATE_LIMIT_ACTIONS = ['close', 'drop'] as const
export type RateLimitAction = (typeof RATE_LIMIT_ACTIONS)[number]
const { rate } = DEFAULT_LIMITS

/** Every setting of the gateway, in the order the README lists them. */
export const SETTINGS = {
  port: setting('port', 'MESA_PORT', integer(0, 65535), 4000),
  host: unset('host', 'MESA_HOST', text('a host name or address')),
  path: setting('path', 'MESA_PATH', text('a URL path starting with "/"', (v) => /^\/[^\s?#]*$/.test(v)), '/ws'),
  namespace: unset('namespace', 'MESA_NAMESPACE', text('1-64 letters, digits, "_", ".", ":" or "-"', (v) => /^[\w.:-]{1,64}$/.test(v))),
  redisUrl: unset('redisUrl', 'MESA_REDIS_URL', text('a redis:// or rediss:// URL', (v) => isUrl(v, ['redis:', 'rediss:']))),
  heartbeatEnabled: setting('heartbeat.enabled', 'MESA_HEARTBEAT_ENABLED', boolean, true),
  heartbeatInterval: setting('heartbeat.interval', 'MESA_HEARTBEAT_INTERVAL', integer(100, MAX_DELAY), 10_000),
  heartbeatMaxAttempts: setting('heartbeat.maxAttempts', 'MESA_HEARTBEAT_MAX_ATTEMPTS', integer(1, 100), 3),
  reconnectInterval: setting('reconnectInterval', 'MESA_RECONNECT_INTERVAL', integer(100, MAX_DELAY), 1000),
  authRequired: setting('authentication.required', 'MESA_AUTH_REQUIRED', boolean, true),
  authTimeout: setting('authentication.timeout', 'MESA_AUTH_TIMEOUT', integer(0, MAX_DELAY), 10_000),
  authSendUserObject: setting('authentication.sendUserObject', 'MESA_AUTH_SEND_USER_OBJECT', boolean, true),
  syncEnabled: setting('sync.enabled', 'MESA_SYNC_ENABLED', boolean, true),
  redeliveryInterval: setting('sync.redeliveryInterval', 'MESA_REDELIVERY_INTERVAL', integer(0, 60_000), 0),
  retentionMaxEntries: setting('retention.maxEntries', 'MESA_RETENTION_MAX_ENTRIES', integer(1, 10_000_000), 1000),
  retentionMaxAge: setting('retention.maxAgeMs', 'MESA_RETENTION_MAX_AGE', integer(1000, 365 * DAY), DAY),
  maxPayload: setting('limits.maxPayload', 'MESA_MAX_PAYLOAD', integer(64, 2 ** 31 - 1), MIB),
  maxBufferedAmount: setting('limits.maxBufferedAmount', 'MESA_MAX_BUFFERED_AMOUNT', integer(1024, Number.MAX_SAFE_INTEGER), MIB),
  maxRequestBody: setting('limits.maxRequestBody', 'MESA_MAX_REQUEST_BODY', integer(64, 64 * MIB), MIB),
  maxPayloadBeforeAuthentication: setting(
    'limits.maxPayloadBeforeAuthentication',
    'MESA_MAX_PAYLOAD_BEFORE_AUTH',
    integer(64, 2 ** 31 - 1),
    DEFAULT_LIMITS.maxPayloadBeforeAuthentication,
  ),
  maxConnectionsPerIp: setting('limits.maxConnectionsPerIp', 'MESA_MAX_CONNECTIONS_PER_IP', integer(0, MAX_COUNT), DEFAULT_LIMITS.maxConnectionsPerIp),
  maxConnectionsPerUser: setting('limits.maxConnectionsPerUser', 'MESA_MAX_CONNECTIONS_PER_USER', integer(0, MAX_COUNT), DEFAULT_LIMITS.maxConnectionsPerUser),
  maxBufferedBytes: setting('limits.maxBufferedBytes', 'MESA_MAX_BUFFERED_BYTES', integer(1024, Number.MAX_SAFE_INTEGER), DEFAULT_LIMITS.maxBufferedBytes),
  rateEnabled: setting('limits.rate.enabled', 'MESA_RATE_LIMIT_ENABLED', boolean, true),
  rateMessagesPerSecond: setting('limits.rate.messagesPerSecond', 'MESA_RATE_MESSAGES_PER_SECOND', integer(1, MAX_COUNT), rate.messagesPerSecond),
  rateMessageBurst: setting('limits.rate.messageBurst', 'MESA_RATE_MESSAGE_BURST', integer(1, MAX_COUNT), rate.messageBurst),
  rateBytesPerSecond: setting('limits.rate.bytesPerSecond', 'MESA_RATE_BYTES_PER_SECOND', integer(1, MAX_COUNT), rate.bytesPerSecond),
  rateByteBurst: unset('limits.rate.byteBurst', 'MESA_RATE_BYTE_BURST', integer(1, MAX_COUNT)),
  rateAction: setting('limits.rate.action', 'MESA_RATE_LIMIT_ACTION', oneOf(RATE_LIMIT_ACTIONS), rate.action as RateLimitAction),
  allowedOrigins: setting(
    'allowedOrigins',
    'MESA_ALLOWED_ORIGINS',
    list(origin, '"*" or origins such as https://app.example.com, comma-separated'),
    [] as string[],
  ),
  channelsMaxPerConnection: setting(
    'channels.maxPerConnection',
    'MESA_CHANNELS_MAX_PER_CONNECTION',
    integer(1, 100_000),
    DEFAULT_CHANNELS.maxPerConnection as number,
  ),
  channelsMaxPerUser: setting('channels.maxPerUser', 'MESA_CHANNELS_MAX_PER_USER', integer(1, 100_000), DEFAULT_MAX_CHANNELS_PER_USER),
  channelRules: setting('channels.rules', 'MESA_CHANNEL_RULES', channelRules, {} as Record<string, ChannelRule>),
  apiKey: unset('apiKey', 'MESA_API_KEY', text(`a key of at least ${MIN_API_KEY_LENGTH} characters`, (v) => v.length >= MIN_API_KEY_LENGTH), true),
  metricsToken: unset(
    'metricsToken',
    'MESA_METRICS_TOKEN',
    text(`a token of at least ${MIN_API_KEY_LENGTH} characters`, (v) => v.length >= MIN_API_KEY_LENGTH),
    true,
  ),
  jwtSecret: unset(
    'jwt.secret',
    'MESA_JWT_SECRET',
    text(`a secret of at least ${MIN_JWT_SECRET_BYTES} bytes`, (v) => Buffer.byteLength(v) >= MIN_JWT_SECRET_BYTES),
    true,
  ),
  jwtPublicKey: unset('jwt.publicKey', 'MESA_JWT_PUBLIC_KEY', publicKey),
  jwksUrl: unset('jwt.jwksUrl', 'MESA_JWT_JWKS_URL', text('an http:// or https:// URL', (v) => isUrl(v, ['http:', 'https:']))),
  jwtAlgorithms: setting(
    'jwt.algorithms',
    'MESA_JWT_ALGORITHMS',
    list(algorithm, `algorithms among ${[...HMAC_ALGORITHMS, ...PUBLIC_KEY_ALGORITHMS].join(', ')}, comma-separated`),
    [] as JwtAlgorithm[],
  ),
  jwtIssuer: unset('jwt.issuer', 'MESA_JWT_ISSUER', text('a non-empty string')),
  jwtAudience: unset('jwt.audience', 'MESA_JWT_AUDIENCE', text('a non-empty string')),
  jwtClockTolerance: setting('jwt.clockTolerance', 'MESA_JWT_CLOCK_TOLERANCE', integer(0, 300), 0),
  // Without a default here: set without a key it is reported, like the other JWT options.
  jwtChannelsClaim: unset('jwt.channelsClaim', 'MESA_JWT_CHANNELS_CLAIM', text('a claim name of 1-256 characters', (v) => v.length <= 256)),
  logLevel: setting('logLevel', 'MESA_LOG_LEVEL', logLevel, 'info' as LogLevel),
  staticDir: unset('staticDir', 'MESA_STATIC_DIR', directory),
} satisfies Record<string, Setting<unknown>>

export type Settings = typeof SETTINGS
export type SettingValues = { [K in keyof Settings]: Settings[K]['fallback'] }
