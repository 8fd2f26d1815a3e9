import { describe, expect, it } from 'vitest'
import { GatewayConfigError, loadConfig } from '../src/config.mjs'
import { createLogger } from '../src/logger.mjs'

describe('gateway configuration from the environment', () => {
  it('defaults to port 4000, /ws, in memory, with the chat', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({
      port: 4000,
      host: undefined,
      path: '/ws',
      namespace: undefined,
      redisUrl: undefined,
      chat: true,
      logLevel: 'info',
      heartbeat: { enabled: true, interval: 10_000, maxAttempts: 3 },
      authentication: { required: true, timeout: 10_000, sendUserObject: true, disconnectOnFail: true },
      sync: { enabled: true, redeliveryInterval: 0 },
    })
  })

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      MESA_PATH: '/realtime',
      NAMESPACE: 'tenant-a',
      HEARTBEAT_ENABLED: 'false',
      HEARTBEAT_INTERVAL: '2500',
      HEARTBEAT_MAX_ATTEMPTS: '5',
      RECONNECT_INTERVAL: '200',
      AUTH_REQUIRED: 'no',
      AUTH_TIMEOUT: '3000',
      AUTH_SEND_USER_OBJECT: '0',
      AUTH_DISCONNECT_ON_FAIL: 'off',
      SYNC_ENABLED: 'true',
      REDELIVERY_INTERVAL: '5',
      REDIS_URL: 'redis://127.0.0.1:6379/2',
      CHAT: 'false',
      LOG_LEVEL: 'DEBUG',
    })
    expect(config).toEqual({
      port: 0,
      host: '127.0.0.1',
      path: '/realtime',
      namespace: 'tenant-a',
      heartbeat: { enabled: false, interval: 2500, maxAttempts: 5 },
      reconnectInterval: 200,
      authentication: { required: false, timeout: 3000, sendUserObject: false, disconnectOnFail: false },
      sync: { enabled: true, redeliveryInterval: 5 },
      redisUrl: 'redis://127.0.0.1:6379/2',
      chat: false,
      logLevel: 'debug',
    })
  })

  it('names every invalid variable at once', () => {
    let error: unknown
    try {
      loadConfig({
        PORT: '70000',
        MESA_PATH: 'ws',
        HEARTBEAT_INTERVAL: '1e3',
        AUTH_REQUIRED: 'maybe',
        REDIS_URL: 'localhost:6379',
        LOG_LEVEL: 'loud',
        NAMESPACE: 'a b',
      })
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(GatewayConfigError)
    const problems = (error as GatewayConfigError).problems
    expect(problems).toHaveLength(7)
    for (const name of ['PORT', 'MESA_PATH', 'HEARTBEAT_INTERVAL', 'AUTH_REQUIRED', 'REDIS_URL', 'LOG_LEVEL', 'NAMESPACE']) {
      expect(problems.some((problem: string) => problem.startsWith(`${name} `))).toBe(true)
    }
  })

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', REDIS_URL: ' ' })).toMatchObject({ port: 4000, redisUrl: undefined })
  })
})

describe('gateway logger', () => {
  it('writes one JSON object per line at or above its level', () => {
    const lines: string[] = []
    const logger = createLogger({ level: 'info', write: (line: string) => lines.push(line), base: { service: 'gw' } })
    logger.debug('hidden')
    logger.info('shown', { port: 4000 })
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    logger.error('still logged', { cyclic })
    expect(lines).toHaveLength(2)
    expect(lines.every((line) => line.endsWith('\n'))).toBe(true)
    const [first, second] = lines.map((line) => JSON.parse(line))
    expect(first).toMatchObject({ level: 'info', msg: 'shown', service: 'gw', port: 4000 })
    expect(Number.isNaN(Date.parse(first.time))).toBe(false)
    expect(second).toMatchObject({ level: 'error', msg: 'still logged', unserializableFields: true })
  })
})
