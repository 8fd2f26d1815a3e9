import { format } from 'node:util'
import { delay, nextEvent } from '@mesa/test-kit'
import createDebug from 'debug'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { CloseCode, ConfigError, Mesa, type MesaLogger, Message } from '../src/index.js'
import { connect, startServer } from './helpers.js'

interface Line {
  level: 'debug' | 'info' | 'warn' | 'error'
  fields: Record<string, unknown>
  message: string | undefined
}

/** A pino-compatible logger that keeps its lines; `child` merges its bindings into every line, as pino does. */
function capturingLogger(): { logger: MesaLogger; lines: Line[] } {
  const lines: Line[] = []
  const make = (bindings: Record<string, unknown>): MesaLogger => {
    const method =
      (level: Line['level']) =>
      (fields: object, message?: string): void => {
        lines.push({ level, fields: { ...bindings, ...fields }, message })
      }
    return {
      debug: method('debug'),
      info: method('info'),
      warn: method('warn'),
      error: method('error'),
      child: (more) => make({ ...bindings, ...more }),
    }
  }
  return { logger: make({}), lines }
}

const failingAuthenticator = () => {
  throw new Error('database down')
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('logger option', () => {
  it('logs the server start and stop at info, connections and closes at debug, errors with their code', async () => {
    const { logger, lines } = capturingLogger()
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {})
    const { mesa, url } = await startServer({ logger, id: 'logged' })
    expect(lines).toContainEqual({
      level: 'info',
      fields: { serverId: 'logged', port: mesa.port, path: undefined, namespace: mesa.namespace },
      message: 'mesa listening',
    })
    mesa.on('connection', (client) => client.authenticate(failingAuthenticator))

    const failing = await connect(url, { v2: true })
    failing.send({ op: 2, d: {} })
    expect((await failing.waitClose()).code).toBe(CloseCode.AuthenticationFailed)
    const garbage = await connect(url)
    garbage.send('not json{')
    await garbage.waitClose()
    await delay(50)

    const connections = lines.filter((line) => line.message === 'connection')
    expect(connections.map((line) => [line.level, line.fields.protocol])).toEqual([
      ['debug', 2],
      ['debug', 1],
    ])
    const handlerFailed = lines.find((line) => line.fields.code === 'authentication-handler-failed')
    expect(handlerFailed).toMatchObject({
      level: 'error',
      fields: { serverId: 'logged', socketId: connections[0]!.fields.socketId },
      message: 'the authenticate handler threw: database down',
    })
    expect((handlerFailed!.fields.err as Error).cause).toEqual(new Error('database down'))
    // A client's bad frame is the client's fault: warn.
    expect(lines.find((line) => line.fields.code === 'invalid-json')).toMatchObject({
      level: 'warn',
      fields: { socketId: connections[1]!.fields.socketId },
    })
    expect(lines.filter((line) => line.message === 'disconnection').map((line) => [line.level, line.fields.code])).toEqual([
      ['debug', CloseCode.AuthenticationFailed],
      ['debug', CloseCode.InvalidFrame],
    ])

    await mesa.close()
    expect(lines.slice(-2).map((line) => [line.level, line.message])).toEqual([
      ['info', 'mesa closing'],
      ['info', 'mesa closed'],
    ])
    // With a logger, nothing goes to the console.
    expect(printed).not.toHaveBeenCalled()
  })

  it('logs failures of the code that handles errors: middleware and error listeners', async () => {
    const { logger, lines } = capturingLogger()
    const { mesa } = await startServer({ logger })
    mesa.use(() => ({
      onError() {
        throw new Error('onError broke')
      },
    }))
    mesa.on('error', () => {
      throw new Error('listener broke')
    })
    mesa.send(new Message(0, {}, 'X'), ['']).catch(() => {})
    await delay(50)
    const messages = lines.filter((line) => line.level === 'error').map((line) => line.message)
    // The send's error, the failing onError handler's, and the listener's failure for each of the two.
    expect(messages.sort()).toEqual([
      'a "error" listener failed: listener broke',
      'a "error" listener failed: listener broke',
      'onError broke',
      'recipients must hold non-empty strings, got ""',
    ])
  })

  it('takes pino as it is, and refuses what is not a logger naming the option', async () => {
    const { pino } = await import('pino')
    const written: string[] = []
    const logger = pino({ level: 'debug' }, { write: (line: string) => void written.push(line) })
    const { mesa, url } = await startServer({ logger })
    const socket = await connect(url)
    socket.send('not json{')
    await socket.waitClose()
    await mesa.close()
    const records = written.map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(records.find((record) => record.code === 'invalid-json')).toMatchObject({ level: 40, serverId: mesa.id })
    expect(records.some((record) => record.msg === 'connection' && record.level === 20)).toBe(true)

    expect(() => new Mesa({ logger: console.log as unknown as MesaLogger })).toThrow(ConfigError)
    expect(() => new Mesa({ logger: { info() {} } as unknown as MesaLogger })).toThrow(/option "logger" must be a logger/)
  })
})

describe('errors without a listener or a logger', () => {
  it('prints an error nobody listens to once per code instead of dropping it (a failing authenticate handler)', async () => {
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {})
    const { mesa, url } = await startServer({ id: 'quiet' })
    mesa.on('connection', (client) => client.authenticate(failingAuthenticator))
    for (let i = 0; i < 2; i++) {
      const socket = await connect(url)
      socket.send({ op: 2, d: {} })
      await socket.waitClose()
    }
    const garbage = await connect(url)
    garbage.send('not json{')
    await garbage.waitClose()
    await delay(50)
    expect(printed).toHaveBeenCalledTimes(2)
    expect(printed.mock.calls[0]![0]).toContain('Mesa server quiet: a "authentication-handler-failed" error nobody listens to')
    expect(printed.mock.calls[0]![1]).toMatchObject({ code: 'authentication-handler-failed', cause: new Error('database down') })
    expect(printed.mock.calls[1]![0]).toContain('"invalid-json"')

    // Heard errors are the listener's to report.
    mesa.on('error', () => {})
    const heard = await connect(url)
    heard.send({ op: 2, d: {} })
    heard.send({ op: 42, d: {} })
    await heard.waitClose()
    await delay(50)
    expect(printed).toHaveBeenCalledTimes(2)
  })

  it('prints nothing when an onError middleware or the client hears it', async () => {
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {})
    const { mesa, url } = await startServer()
    const heard: string[] = []
    mesa.on('connection', (client) => client.on('error', (error) => void heard.push(error.message)))
    const socket = await connect(url)
    socket.send('not json{')
    await socket.waitClose()
    mesa.use(() => ({ onError: (error) => void heard.push(error.message) }))
    mesa.send(new Message(0, {}, 'X'), ['']).catch(() => {})
    await delay(50)
    expect(heard).toHaveLength(2)
    expect(printed).not.toHaveBeenCalled()
  })
})

describe('debug namespaces', () => {
  const originalLog = createDebug.log
  afterEach(() => {
    createDebug.disable()
    createDebug.log = originalLog
  })

  function capture(namespaces: string): string[] {
    const output: string[] = []
    createDebug.log = (...args: unknown[]) => void output.push(format(...args))
    createDebug.enable(namespaces)
    return output
  }

  it('writes mesa:server, mesa:server:auth and mesa:server:messages lines when enabled', async () => {
    const output = capture('mesa:*')
    const { mesa, url } = await startServer({ id: 'traced' })
    mesa.on('connection', (client) => client.authenticate((_, done) => done(null, { id: 'ada', user: {} })))
    const socket = await connect(url, { v2: true })
    await socket.authenticate({})
    socket.send({ op: 0, d: {}, t: 'PING' })
    await nextEvent(mesa, 'message')
    await mesa.send(new Message(0, {}, 'PONG'), ['ada'])
    await mesa.close()
    const text = output.join('\n')
    expect(text).toMatch(/mesa:server traced listening on port \d+/)
    expect(text).toMatch(/mesa:server \S+ connected \(protocol 2/)
    expect(text).toMatch(/mesa:server:auth \S+ authenticated as ada/)
    expect(text).toMatch(/mesa:server:messages \S+ sent PING/)
    expect(text).toMatch(/mesa:server:messages send PONG to 1 users/)
    expect(text).toMatch(/mesa:server traced closed/)
  })

  it('writes nothing for a namespace that is not enabled', async () => {
    const output = capture('mesa:server:auth')
    const { mesa, url } = await startServer()
    mesa.on('connection', (client) => client.authenticate((_, done) => done(null, { id: 'ada', user: {} })))
    const socket = await connect(url)
    await socket.authenticate({})
    socket.send({ op: 0, d: {}, t: 'PING' })
    await nextEvent(mesa, 'message')
    expect(output.length).toBeGreaterThan(0)
    expect(output.every((line) => line.includes('mesa:server:auth'))).toBe(true)
  })
})
