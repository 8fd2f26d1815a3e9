import { MemoryAdapter } from '@mesa/core/server'
import { describe, expect, it } from 'vitest'
import { ConfigError, DEFAULT_MAX_PAYLOAD, DEFAULT_PORT, Mesa } from '../src/index.js'
import { loadRedisAdapter } from '../src/resolve-adapter.js'
import { connect, startServer, track } from './helpers.js'

function configError(options: unknown): ConfigError {
  try {
    track(new Mesa(options as never))
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe('configuration', () => {
  it('documents its defaults', () => {
    expect(DEFAULT_PORT).toBe(4000)
    expect(DEFAULT_MAX_PAYLOAD).toBe(1024 * 1024)
  })

  it('announces the 1.x defaults in hello and accepts every 1.x option', async () => {
    const { url } = await startServer({
      client: { enforceEqualVersions: true },
      options: { storeMessages: true },
      sync: { enabled: true, redeliveryInterval: 0 },
      portal: { enabled: false, distributeLoad: true },
      heartbeat: { enabled: true, interval: 10_000, maxAttempts: 3 },
      reconnect: { enabled: true, interval: 5000 },
      authentication: { timeout: 10_000, required: false, sendUserObject: true, disconnectOnFail: true, storeConnectedUsers: true },
    })
    const socket = await connect(url)
    expect(socket.hello.d).toEqual({
      c_heartbeat_interval: 10_000,
      c_reconnect_interval: 5000,
      c_authentication_timeout: 10_000,
      rules: ['enforce_equal_versions', 'store_messages', 'sends_user_object'],
    })
    expect(socket.hello.x).toBeUndefined()
  })

  it('always sends rules as an array, empty when no rule applies', async () => {
    const { url } = await startServer({ heartbeat: { enabled: false }, authentication: { sendUserObject: false, timeout: 0 } })
    const socket = await connect(url)
    expect(socket.hello.d).toEqual({ rules: [] })
  })

  it('sends heartbeats by default (Mesa 1.x did not), so dead sockets are reaped', async () => {
    const { url } = await startServer()
    const socket = await connect(url)
    expect(socket.hello.d.c_heartbeat_interval).toBe(10_000)
  })

  it.each([
    [{ hearbeat: { enabled: true } }, 'unknown option "hearbeat"; did you mean "heartbeat"?'],
    [{ heartbeat: { enable: true } }, 'unknown option "heartbeat.enable"; did you mean "heartbeat.enabled"?'],
    [{ authentication: { requried: true } }, 'unknown option "authentication.requried"; did you mean "authentication.required"?'],
    [{ limits: { rate: { messagesPerSec: 5 } } }, 'unknown option "limits.rate.messagesPerSec"; did you mean "limits.rate.messagesPerSecond"?'],
    [{ totallyUnrelated: 1 }, 'unknown option "totallyUnrelated"'],
  ])('rejects unknown options (%j), naming the closest valid one', (options, message) => {
    const error = configError(options)
    expect(error.message).toContain(message)
    if (!message.includes('did you mean')) expect(error.message).not.toContain('did you mean')
  })

  it('accepts a numeric string port, as process.env.PORT gives it', async () => {
    const mesa = track(new Mesa({ port: '0', host: '127.0.0.1' } as never))
    await mesa.listening()
    expect(mesa.port).toBeGreaterThan(0)
  })

  it.each([
    [{ port: 'x' }, 'port', 'an integer from 0 to 65535', 'the string "x"'],
    [{ port: '4000x' }, 'port', 'an integer from 0 to 65535', 'the string "4000x"'],
    [{ limits: { maxDepth: 0 } }, 'limits.maxDepth', 'an integer from 1', 'number 0'],
    [{ limits: { rate: { action: 'ignore' } } }, 'limits.rate.action', '"close" or "drop"', 'the string "ignore"'],
    [{ limits: { rate: { byteBurst: 100 } } }, 'limits.rate.byteBurst', 'at least maxPayload', 'number 100'],
    [{ allowedOrigins: 'https://a.example' }, 'allowedOrigins', 'an array of origins', 'the string "https://a.example"'],
    [{ verifyConnection: true }, 'verifyConnection', 'a function', 'boolean true'],
    [{ authentication: { upgradeCredentials: { header: 'bad header' } } }, 'authentication.upgradeCredentials.header', 'an HTTP header name', 'the string "bad header"'],
    [{ port: 70000 }, 'port', 'an integer from 0 to 65535', 'number 70000'],
    [{ maxPayload: -1 }, 'maxPayload', 'an integer', 'number -1'],
    [{ path: 'ws' }, 'path', 'a path starting with "/"', 'the string "ws"'],
    [{ heartbeat: { enabled: 'yes' } }, 'heartbeat.enabled', 'a boolean', 'the string "yes"'],
    [{ heartbeat: { interval: 0 } }, 'heartbeat.interval', 'an integer from 1', 'number 0'],
    [{ heartbeat: { maxAttempts: 1.5 } }, 'heartbeat.maxAttempts', 'an integer', 'number 1.5'],
    [{ heartbeat: 5 }, 'heartbeat', 'an object', 'number 5'],
    [{ reconnect: { interval: 'soon' } }, 'reconnect.interval', 'an integer', 'the string "soon"'],
    [{ authentication: { timeout: -5 } }, 'authentication.timeout', 'an integer from 0', 'number -5'],
    [{ authentication: { required: 1 } }, 'authentication.required', 'a boolean', 'number 1'],
    [{ authentication: { sendUserObject: null } }, 'authentication.sendUserObject', 'a boolean', 'null'],
    [{ authentication: { disconnectOnFail: 'no' } }, 'authentication.disconnectOnFail', 'a boolean', 'the string "no"'],
    [{ authentication: { storeConnectedUsers: [] } }, 'authentication.storeConnectedUsers', 'a boolean', 'an array'],
    [{ sync: { enabled: 1 } }, 'sync.enabled', 'a boolean', 'number 1'],
    [{ sync: { redeliveryInterval: -1 } }, 'sync.redeliveryInterval', 'an integer', 'number -1'],
    [{ portal: { enabled: 'true' } }, 'portal.enabled', 'a boolean', 'the string "true"'],
    [{ portal: { distributeLoad: 0 } }, 'portal.distributeLoad', 'a boolean', 'number 0'],
    [{ client: { enforceEqualVersions: 'x' } }, 'client.enforceEqualVersions', 'a boolean', 'the string "x"'],
    [{ options: { storeMessages: 'x' } }, 'options.storeMessages', 'a boolean', 'the string "x"'],
    [{ namespace: '' }, 'namespace', 'a non-empty string', 'the string ""'],
    [{ adapter: {} }, 'adapter', 'an Adapter', 'object'],
    [{ server: 42 }, 'server', 'an http or https server', 'number 42'],
    [{ redis: 42 }, 'redis', 'a Redis URL or an ioredis options object', 'number 42'],
    [{ channels: { maxPerConnection: 0 } }, 'channels.maxPerConnection', 'an integer from 1', 'number 0'],
    [{ channels: { subscribeRate: { burst: 'x' } } }, 'channels.subscribeRate.burst', 'an integer from 1', 'the string "x"'],
    [{ channels: { subscribeRate: true } }, 'channels.subscribeRate', 'an object', 'boolean true'],
    [{ channels: { rules: [] } }, 'channels.rules', 'an object of rules by channel-name prefix', 'an array'],
    [{ channels: { rules: { 'a b': {} } } }, 'channels.rules["a b"]', 'keyed by a channel-name prefix', 'the string "a b"'],
    [{ channels: { rules: { 'room:': true } } }, 'channels.rules["room:"]', 'an object { history?, presence?, joinLeave? }', 'boolean true'],
    [{ channels: { rules: { 'room:': { history: 'no' } } } }, 'channels.rules["room:"].history', 'a boolean', 'the string "no"'],
  ])('rejects %j naming the option, what it expects and what it got', (options, name, expected, got) => {
    const error = configError(options)
    expect(error.message).toContain(`"${name}"`)
    expect(error.message).toContain(expected)
    expect(error.message).toContain(got)
  })

  it('names the closest option for a misspelt channel option or rule key', () => {
    expect(configError({ channels: { maxPerConection: 3 } }).message).toContain('did you mean "channels.maxPerConnection"?')
    expect(configError({ channels: { rules: { 'room:': { joinleave: true } } } }).message).toContain(
      'unknown option "channels.rules["room:"].joinleave"; did you mean "channels.rules["room:"].joinLeave"?',
    )
  })

  it('rejects a namespace that differs from the given adapter', () => {
    const adapter = new MemoryAdapter({ namespace: 'a' })
    expect(configError({ adapter, namespace: 'b' }).message).toContain('"namespace"')
    expect(configError({ adapter, redis: 'redis://127.0.0.1' }).message).toContain('"redis"')
  })

  it('names the missing package when the redis shorthand cannot load its adapter package', () => {
    expect(() => loadRedisAdapter('redis://127.0.0.1:6379', undefined, '@mesa/absent-adapter')).toThrow(ConfigError)
    expect(() => loadRedisAdapter('redis://127.0.0.1:6379', undefined, '@mesa/absent-adapter')).toThrow(
      /option "redis" needs the optional package @mesa\/absent-adapter, which is not installed/,
    )
  })

  it('loads @mesa/redis-adapter for the redis shorthand and closes the adapter it created', async () => {
    const namespace = `server-config-${process.pid}-${Date.now()}`
    const { mesa, url } = await startServer({ redis: 'redis://127.0.0.1:6379', namespace })
    expect(mesa.namespace).toBe(namespace)
    const socket = await connect(url)
    expect(socket.hello.op).toBe(10)
    await mesa.close()
    await expect(mesa.adapter!.publish({ kind: 'disconnect', origin: 'x', userIds: ['u'] })).rejects.toThrow()
  })

  it('uses the namespace for its default adapter', async () => {
    const { mesa } = await startServer({ namespace: 'chat' })
    expect(mesa.namespace).toBe('chat')
    expect(mesa.adapter).toBeInstanceOf(MemoryAdapter)
  })

  it('rejects listening() when the port is taken and reports it through error', async () => {
    const { mesa } = await startServer()
    const second = track(new Mesa({ port: mesa.port, host: '127.0.0.1' }))
    const errors: Error[] = []
    second.on('error', (error) => errors.push(error))
    await expect(second.listening()).rejects.toThrow(/EADDRINUSE/)
    expect(errors.some((error) => /EADDRINUSE/.test(error.message))).toBe(true)
  })
})
