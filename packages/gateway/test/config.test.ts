import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { GatewayConfigError, loadConfig, resolveConfig } from '../src/index.js'

const SECRET = 'a-secret-of-at-least-thirty-two-bytes!!'

function problemsOf(load: () => unknown): string[] {
  try {
    load()
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayConfigError)
    return (error as GatewayConfigError).problems
  }
  throw new Error('the configuration was accepted')
}

describe('gateway configuration', () => {
  const dirs: string[] = []
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })
  const file = (content: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'mesa-gateway-config-'))
    dirs.push(dir)
    const path = join(dir, 'gateway.json')
    writeFileSync(path, content)
    return path
  }

  it('defaults: port 4000, /ws, in memory, sync, authentication required, same-origin sockets, no API, no JWT', () => {
    expect(loadConfig({})).toEqual({
      port: 4000,
      path: '/ws',
      heartbeat: { enabled: true, interval: 10_000, maxAttempts: 3 },
      reconnectInterval: 1000,
      authentication: { required: true, timeout: 10_000, sendUserObject: true },
      sync: { enabled: true, redeliveryInterval: 0 },
      retention: { maxEntries: 1000, maxAgeMs: 24 * 3_600_000 },
      limits: {
        maxPayload: 1024 * 1024,
        maxBufferedAmount: 1024 * 1024,
        maxRequestBody: 1024 * 1024,
        maxPayloadBeforeAuthentication: 32 * 1024,
        maxConnectionsPerIp: 0,
        maxConnectionsPerUser: 0,
        maxBufferedBytes: 256 * 1024 * 1024,
        rate: { enabled: true, messagesPerSecond: 200, messageBurst: 500, bytesPerSecond: 1024 * 1024, action: 'close' },
      },
      channels: { maxPerConnection: 128, maxPerUser: 128, rules: {} },
      allowedOrigins: [],
      logLevel: 'info',
    })
  })

  it('reads every variable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesa-gateway-static-'))
    dirs.push(dir)
    const config = loadConfig({
      MESA_PORT: '0',
      MESA_HOST: '127.0.0.1',
      MESA_PATH: '/realtime',
      MESA_NAMESPACE: 'tenant-a',
      MESA_REDIS_URL: 'redis://127.0.0.1:6379/2',
      MESA_HEARTBEAT_ENABLED: 'false',
      MESA_HEARTBEAT_INTERVAL: '2500',
      MESA_HEARTBEAT_MAX_ATTEMPTS: '5',
      MESA_RECONNECT_INTERVAL: '200',
      MESA_AUTH_REQUIRED: 'no',
      MESA_AUTH_TIMEOUT: '3000',
      MESA_AUTH_SEND_USER_OBJECT: '0',
      MESA_SYNC_ENABLED: 'off',
      MESA_REDELIVERY_INTERVAL: '5',
      MESA_RETENTION_MAX_ENTRIES: '50',
      MESA_RETENTION_MAX_AGE: '60000',
      MESA_MAX_PAYLOAD: '65536',
      MESA_MAX_BUFFERED_AMOUNT: '2097152',
      MESA_MAX_REQUEST_BODY: '4096',
      MESA_MAX_PAYLOAD_BEFORE_AUTH: '1024',
      MESA_MAX_CONNECTIONS_PER_IP: '50',
      MESA_MAX_CONNECTIONS_PER_USER: '5',
      MESA_MAX_BUFFERED_BYTES: '67108864',
      MESA_CHANNELS_MAX_PER_CONNECTION: '32',
      MESA_CHANNELS_MAX_PER_USER: '16',
      MESA_CHANNEL_RULES: '{"":{"history":false},"chat:":{"presence":true,"joinLeave":true}}',
      MESA_RATE_LIMIT_ENABLED: 'yes',
      MESA_RATE_MESSAGES_PER_SECOND: '20',
      MESA_RATE_MESSAGE_BURST: '40',
      MESA_RATE_BYTES_PER_SECOND: '65536',
      MESA_RATE_BYTE_BURST: '131072',
      MESA_RATE_LIMIT_ACTION: 'Drop',
      MESA_ALLOWED_ORIGINS: 'https://app.example.com, http://localhost:3000',
      MESA_API_KEY: 'k'.repeat(24),
      MESA_METRICS_TOKEN: 'm'.repeat(16),
      MESA_JWT_SECRET: SECRET,
      MESA_JWT_ALGORITHMS: 'HS256,HS512',
      MESA_JWT_ISSUER: 'https://auth.example.com',
      MESA_JWT_AUDIENCE: 'mesa',
      MESA_JWT_CLOCK_TOLERANCE: '5',
      MESA_JWT_CHANNELS_CLAIM: 'https://example.com/channels',
      MESA_LOG_LEVEL: 'DEBUG',
      MESA_STATIC_DIR: dir,
    })
    expect(config).toEqual({
      port: 0,
      host: '127.0.0.1',
      path: '/realtime',
      namespace: 'tenant-a',
      redisUrl: 'redis://127.0.0.1:6379/2',
      heartbeat: { enabled: false, interval: 2500, maxAttempts: 5 },
      reconnectInterval: 200,
      authentication: { required: false, timeout: 3000, sendUserObject: false },
      sync: { enabled: false, redeliveryInterval: 5 },
      retention: { maxEntries: 50, maxAgeMs: 60_000 },
      limits: {
        maxPayload: 65_536,
        maxBufferedAmount: 2_097_152,
        maxRequestBody: 4096,
        maxPayloadBeforeAuthentication: 1024,
        maxConnectionsPerIp: 50,
        maxConnectionsPerUser: 5,
        maxBufferedBytes: 67_108_864,
        rate: { enabled: true, messagesPerSecond: 20, messageBurst: 40, bytesPerSecond: 65_536, byteBurst: 131_072, action: 'drop' },
      },
      channels: { maxPerConnection: 32, maxPerUser: 16, rules: { '': { history: false }, 'chat:': { presence: true, joinLeave: true } } },
      allowedOrigins: ['https://app.example.com', 'http://localhost:3000'],
      apiKey: 'k'.repeat(24),
      metricsToken: 'm'.repeat(16),
      jwt: {
        secret: SECRET,
        algorithms: ['HS256', 'HS512'],
        issuer: 'https://auth.example.com',
        audience: 'mesa',
        clockTolerance: 5,
        channelsClaim: 'https://example.com/channels',
      },
      logLevel: 'debug',
      staticDir: dir,
    })
  })

  it('takes PORT when MESA_PORT is unset, and treats blank variables as unset', () => {
    expect(loadConfig({ PORT: '8080', MESA_REDIS_URL: ' ' })).toMatchObject({ port: 8080 })
    expect(loadConfig({ PORT: '8080', MESA_PORT: '9090' }).port).toBe(9090)
    expect(loadConfig({ MESA_REDIS_URL: ' ' }).redisUrl).toBeUndefined()
  })

  it('names every invalid variable at once, and never repeats a secret', () => {
    const problems = problemsOf(() =>
      loadConfig({
        MESA_PORT: '70000',
        MESA_PATH: 'ws',
        MESA_HEARTBEAT_INTERVAL: '1e3',
        MESA_AUTH_REQUIRED: 'maybe',
        MESA_REDIS_URL: 'localhost:6379',
        MESA_LOG_LEVEL: 'loud',
        MESA_NAMESPACE: 'a b',
        MESA_ALLOWED_ORIGINS: 'https://ok.example.com,not an origin',
        MESA_API_KEY: 'short-key',
        MESA_METRICS_TOKEN: 'short-token',
        MESA_STATIC_DIR: '/no/such/directory',
      }),
    )
    const names = ['MESA_PORT', 'MESA_PATH', 'MESA_HEARTBEAT_INTERVAL', 'MESA_AUTH_REQUIRED', 'MESA_REDIS_URL']
    names.push('MESA_LOG_LEVEL', 'MESA_NAMESPACE', 'MESA_ALLOWED_ORIGINS', 'MESA_API_KEY', 'MESA_METRICS_TOKEN', 'MESA_STATIC_DIR')
    expect(problems).toHaveLength(names.length)
    for (const name of names) expect(problems.some((problem) => problem.startsWith(`${name} must be `))).toBe(true)
    expect(problems.join('\n')).not.toContain('short-key')
    expect(problems.join('\n')).not.toContain('short-token')
    expect(problems).toContain('MESA_PORT must be an integer from 0 to 65535, got "70000"')
  })

  it('JWT: one key source; algorithms that fit the key; options only with a key', () => {
    expect(problemsOf(() => loadConfig({ MESA_JWT_SECRET: SECRET, MESA_JWT_JWKS_URL: 'https://x.example/jwks' }))).toEqual([
      'MESA_JWT_SECRET and MESA_JWT_JWKS_URL exclude each other: set one',
    ])
    expect(problemsOf(() => loadConfig({ MESA_JWT_SECRET: 'too short' }))[0]).toMatch(
      /^MESA_JWT_SECRET must be a secret of at least 32 bytes, got a value of 9 characters$/,
    )
    expect(problemsOf(() => loadConfig({ MESA_JWT_SECRET: SECRET, MESA_JWT_ALGORITHMS: 'RS256' }))).toEqual([
      'MESA_JWT_ALGORITHMS must be HS256, HS384 or HS512 with MESA_JWT_SECRET',
    ])
    expect(problemsOf(() => loadConfig({ MESA_JWT_ALGORITHMS: 'none' }))[0]).toMatch(/^MESA_JWT_ALGORITHMS must be algorithms among/)
    expect(problemsOf(() => loadConfig({ MESA_JWT_ISSUER: 'me', MESA_JWT_CHANNELS_CLAIM: 'rooms' }))).toEqual([
      'MESA_JWT_ISSUER needs a key: MESA_JWT_SECRET, MESA_JWT_PUBLIC_KEY or MESA_JWT_JWKS_URL',
      'MESA_JWT_CHANNELS_CLAIM needs a key: MESA_JWT_SECRET, MESA_JWT_PUBLIC_KEY or MESA_JWT_JWKS_URL',
    ])
    expect(problemsOf(() => loadConfig({ MESA_JWT_PUBLIC_KEY: 'not a key' }))[0]).toMatch(/^MESA_JWT_PUBLIC_KEY must be a PEM public key/)
    expect(loadConfig({ MESA_JWT_JWKS_URL: 'https://auth.example.com/jwks.json' }).jwt).toEqual({
      jwksUrl: 'https://auth.example.com/jwks.json',
      algorithms: ['RS256', 'ES256'],
      clockTolerance: 0,
      channelsClaim: 'channels',
    })
  })

  it('JWT: a PEM public key (newlines escaped as \\n in one line) picks its algorithm', () => {
    const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString()
    const rsa = pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey)
    expect(loadConfig({ MESA_JWT_PUBLIC_KEY: rsa.replace(/\n/g, '\\n') }).jwt).toEqual({
      publicKey: rsa,
      algorithms: ['RS256'],
      clockTolerance: 0,
      channelsClaim: 'channels',
    })
    expect(loadConfig({ MESA_JWT_PUBLIC_KEY: pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey) }).jwt?.algorithms).toEqual(['ES256'])
  })

  it('reads a JSON file named by MESA_CONFIG; variables override it; its bad settings are named with the file', () => {
    const path = file(JSON.stringify({ port: 5000, namespace: 'from-file', heartbeat: { interval: 3000 }, jwt: { secret: SECRET } }))
    expect(loadConfig({ MESA_CONFIG: path, MESA_NAMESPACE: 'from-env' })).toMatchObject({
      port: 5000,
      namespace: 'from-env',
      heartbeat: { enabled: true, interval: 3000, maxAttempts: 3 },
      jwt: { secret: SECRET, algorithms: ['HS256'] },
    })
    const bad = file(
      JSON.stringify({ port: 'eighty', heartbeat: { intervall: 1 }, colour: 'blue', limits: { rate: { perSecond: 5 }, burst: 1 } }),
    )
    expect(problemsOf(() => loadConfig({ MESA_CONFIG: bad })).sort()).toEqual(
      [
        `colour (${bad}) is not a gateway setting`,
        `heartbeat.intervall (${bad}) is not a gateway setting`,
        `limits.rate.perSecond (${bad}) is not a gateway setting`,
        `limits.burst (${bad}) is not a gateway setting`,
        `port (${bad}) must be an integer from 0 to 65535, got "eighty"`,
      ].sort(),
    )
    expect(problemsOf(() => loadConfig({ MESA_CONFIG: file('{ not json') }))[0]).toMatch(/^MESA_CONFIG must name a readable JSON file/)
    expect(problemsOf(() => loadConfig({ MESA_CONFIG: '/no/such/file.json' }))[0]).toMatch(/^MESA_CONFIG must name a readable JSON file/)
  })

  it('channel rules: JSON in the environment, an object in code; anything else is refused', () => {
    expect(resolveConfig({ channels: { rules: { 'news:': { presence: true } } } }).channels.rules).toEqual({ 'news:': { presence: true } })
    for (const rules of ['{"news:":{"presence":"yes"}}', '{"news:":{"colour":true}}', '[]', '{"news:": true}', '{news']) {
      expect(problemsOf(() => loadConfig({ MESA_CHANNEL_RULES: rules })), rules).toEqual([
        expect.stringMatching(/^MESA_CHANNEL_RULES must be (JSON of )?rules by channel-name prefix, e\.g\. \{"news:":\{"presence":true\}\}/),
      ])
    }
  })

  it('the rate limit: off with its switch; a byte burst below the largest frame is refused, naming both', () => {
    expect(loadConfig({ MESA_RATE_LIMIT_ENABLED: 'off' }).limits.rate.enabled).toBe(false)
    expect(problemsOf(() => loadConfig({ MESA_RATE_BYTE_BURST: '1000', MESA_MAX_PAYLOAD: '2000' }))).toEqual([
      'MESA_RATE_BYTE_BURST must be at least MESA_MAX_PAYLOAD (2000), or a frame of that size could never pass',
    ])
    expect(problemsOf(() => resolveConfig({ limits: { rate: { action: 'ignore' as never, messagesPerSecond: 0 } } }))).toEqual([
      'limits.rate.messagesPerSecond must be an integer from 1 to 9007199254740991, got number 0',
      'limits.rate.action must be one of close, drop, got "ignore"',
    ])
  })

  it('settings in code are checked the same way, named by their path; a resolved configuration resolves to itself', () => {
    expect(problemsOf(() => resolveConfig({ port: -1, heartbeat: { interval: 0 } }))).toEqual([
      'port must be an integer from 0 to 65535, got number -1',
      'heartbeat.interval must be an integer from 100 to 2147483647, got number 0',
    ])
    const config = loadConfig({ MESA_JWT_SECRET: SECRET, MESA_API_KEY: 'k'.repeat(16), MESA_ALLOWED_ORIGINS: '*' })
    expect(resolveConfig(config)).toEqual(config)
  })
})
