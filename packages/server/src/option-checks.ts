import { ConfigError } from '@mesa/core'
import type {
  AcksOptions,
  AuthenticationOptions,
  ChannelRule,
  ChannelsOptions,
  ClientOptions,
  HeartbeatOptions,
  LimitsOptions,
  MesaOptions,
  PortalOptions,
  RateLimitOptions,
  ReconnectOptions,
  RequestsOptions,
  ServerBehaviourOptions,
  SubscribeRateOptions,
  SyncOptions,
} from './options.js'

// How options are checked: messages that name the option, what it expects and what it got, and the table of
// every option name (so that a typo is caught and the closest valid name suggested).

/** Largest timer delay Node accepts; longer intervals would fire at once. */
export const MAX_DELAY = 2 ** 31 - 1

export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`
  return typeof value
}

export function fail(name: string, expected: string, value: unknown): never {
  throw new ConfigError(`Mesa: option "${name}" must be ${expected}, got ${describe(value)}`)
}

export function isObject(value: unknown): value is Record<string, unknown> {
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
export function checkKnown(section: SectionName, value: Record<string, unknown>, name: string = section): void {
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

export function section(name: Exclude<SectionName, ''>, value: unknown): Record<string, unknown> {
  if (value === undefined) return {}
  if (!isObject(value)) fail(name, 'an object', value)
  checkKnown(name, value)
  return value
}

export function bool(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') fail(name, 'a boolean', value)
  return value
}

export function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(name, `an integer from ${min} to ${max}`, value)
  }
  return value
}


export function text(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length === 0) fail(name, 'a non-empty string', value)
  return value
}




/** Validates every option and fills in the documented defaults; throws `ConfigError` naming the option. */
