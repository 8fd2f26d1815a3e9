/**
 * The gateway's whole configuration comes from environment variables. Each has a default, so a bare
 * `node src/main.mjs` runs a single in-memory gateway with the chat on port 4000.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | PORT | 4000 | http + WebSocket port (0 picks a free one) |
 * | HOST | all interfaces | address to listen on |
 * | MESA_PATH | /ws | WebSocket path |
 * | NAMESPACE | (none) | Mesa namespace: gateways replicate only within theirs |
 * | HEARTBEAT_ENABLED | true | send heartbeats and close sockets that stop answering |
 * | HEARTBEAT_INTERVAL | 10000 | ms between heartbeats |
 * | HEARTBEAT_MAX_ATTEMPTS | 3 | unanswered heartbeats before the socket is closed |
 * | RECONNECT_INTERVAL | 1000 | ms clients wait before reconnecting (the base of their backoff) |
 * | AUTH_REQUIRED | true | unauthenticated sockets may neither send nor receive broadcasts |
 * | AUTH_TIMEOUT | 10000 | ms a socket has to authenticate before it is closed |
 * | AUTH_SEND_USER_OBJECT | true | answer authentication with the user object |
 * | AUTH_DISCONNECT_ON_FAIL | true | close the socket when authentication fails |
 * | SYNC_ENABLED | true | store messages and redeliver what clients missed |
 * | REDELIVERY_INTERVAL | 0 | ms between redelivered messages |
 * | REDIS_URL | (none) | replicate, store and track presence through Redis; in memory when unset |
 * | CHAT | true | serve the chat page at / and run the chat on the gateway |
 * | LOG_LEVEL | info | debug, info, warn or error |
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error']

export class GatewayConfigError extends Error {
  /** @param {string[]} problems one line per invalid variable */
  constructor(problems) {
    super(`invalid gateway configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'GatewayConfigError'
    this.problems = problems
  }
}

/**
 * @param {Record<string, string | undefined>} env usually `process.env`
 * @returns the gateway configuration; throws `GatewayConfigError` naming every invalid variable at once
 */
export function loadConfig(env) {
  const problems = []
  const read = (name) => {
    const value = env[name]
    return value === undefined || value.trim() === '' ? undefined : value.trim()
  }
  const integer = (name, fallback, min, max) => {
    const raw = read(name)
    if (raw === undefined) return fallback
    const value = Number(raw)
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`)
      return fallback
    }
    return value
  }
  const flag = (name, fallback) => {
    const raw = read(name)
    if (raw === undefined) return fallback
    const lower = raw.toLowerCase()
    if (['1', 'true', 'yes', 'on'].includes(lower)) return true
    if (['0', 'false', 'no', 'off'].includes(lower)) return false
    problems.push(`${name} must be true or false, got "${raw}"`)
    return fallback
  }

  const path = read('MESA_PATH') ?? '/ws'
  if (!path.startsWith('/') || /[\s?#]/.test(path)) {
    problems.push(`MESA_PATH must be a URL path starting with "/", got "${path}"`)
  }
  const namespace = read('NAMESPACE')
  if (namespace !== undefined && !/^[\w.:-]{1,64}$/.test(namespace)) {
    problems.push(`NAMESPACE must be 1-64 letters, digits, "_", ".", ":" or "-", got "${namespace}"`)
  }
  const redisUrl = read('REDIS_URL')
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    problems.push(`REDIS_URL must start with redis:// or rediss://, got "${redisUrl}"`)
  }
  const logLevel = (read('LOG_LEVEL') ?? 'info').toLowerCase()
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${read('LOG_LEVEL')}"`)
  }

  const config = {
    port: integer('PORT', 4000, 0, 65535),
    host: read('HOST'),
    path,
    namespace,
    heartbeat: {
      enabled: flag('HEARTBEAT_ENABLED', true),
      interval: integer('HEARTBEAT_INTERVAL', 10_000, 100, 3_600_000),
      maxAttempts: integer('HEARTBEAT_MAX_ATTEMPTS', 3, 1, 100),
    },
    reconnectInterval: integer('RECONNECT_INTERVAL', 1000, 100, 3_600_000),
    authentication: {
      required: flag('AUTH_REQUIRED', true),
      timeout: integer('AUTH_TIMEOUT', 10_000, 100, 3_600_000),
      sendUserObject: flag('AUTH_SEND_USER_OBJECT', true),
      disconnectOnFail: flag('AUTH_DISCONNECT_ON_FAIL', true),
    },
    sync: {
      enabled: flag('SYNC_ENABLED', true),
      redeliveryInterval: integer('REDELIVERY_INTERVAL', 0, 0, 60_000),
    },
    redisUrl,
    chat: flag('CHAT', true),
    logLevel,
  }
  if (problems.length > 0) throw new GatewayConfigError(problems)
  return config
}
