import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import { delay, nextEvent, Scope, ScriptedServer, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import {
  AuthenticationError,
  ClientSession,
  CloseCode,
  ConfigError,
  ConnectionClosedError,
  type Frame,
  Message,
  QueueFullError,
  SUBPROTOCOL_V2,
  type SessionOptions,
  type SessionState,
  type WebSocketLike,
} from '../src/index.js'

const require = createRequire(import.meta.url)

/** Opens `ws` sockets: the transport the Node client gives the session. */
const wsTransport = (url: string, protocols: string[]) => new WebSocket(url, protocols)

const scope = new Scope()
afterEach(() => scope.cleanup())

async function serve(options?: Parameters<typeof ScriptedServer.start>[0]): Promise<ScriptedServer> {
  const server = await ScriptedServer.start(options)
  scope.defer(() => server.close())
  return server
}

function client(url: string, options?: SessionOptions): ClientSession {
  const session = new ClientSession(url, options, wsTransport)
  scope.defer(() => session.disconnect())
  return session
}

const ack = (d: Record<string, unknown>, x?: Record<string, unknown>): Frame => (x ? { op: 22, d, x } : { op: 22, d })
/** Op 2's `x` from a protocol 2 session: its client id, no subscriptions to renew, and `resume` when given. */
const authX = (resume?: Record<string, unknown>) => ({ cid: expect.stringMatching(/^\d+(-\d+){3}$/), ch: {}, ...(resume && { resume }) })
const dispatch = (t: string, d: Record<string, unknown>, s?: number, st?: 'g'): Frame => {
  const frame: Frame = { op: 0, d, t }
  if (s !== undefined) frame.s = s
  if (st) frame.x = { st }
  return frame
}

describe('ClientSession: connection and hello', () => {
  it('offers mesa.v2, goes connecting -> open, emits connected and connection, answers every heartbeat', async () => {
    const server = await serve()
    const states: SessionState[] = []
    const session = new ClientSession(server.url, { autoConnect: false }, wsTransport)
    scope.defer(() => session.disconnect())
    session.on('stateChange', (state) => states.push(state))
    const connected = nextEvent(session, 'connected')
    const alias = nextEvent(session, 'connection' as 'connected')
    expect(session.state).toBe('closed')
    await session.connect()
    const [info] = await connected
    await alias
    expect(info).toEqual({ isInitialConnection: true, isInitialSessionConnection: true, isAutomaticReconnection: false })
    const side = await server.connection(0)
    expect(side.req.headers['sec-websocket-protocol']).toBe(SUBPROTOCOL_V2)
    side.send({ op: 1, d: {} })
    side.send({ op: 1, d: { tries: 1, max: 3 } })
    await waitFor('two heartbeat acks', () => side.frames.filter((f) => f.op === 11).length === 2)
    expect(side.frames.filter((f) => f.op === 11)).toEqual([
      { op: 11, d: {} },
      { op: 11, d: {} },
    ])
    expect(states).toEqual(['connecting', 'open'])
    expect(session.protocol).toBe(2)
  })

  it('sends CLIENT_VERSION with the configured version when the hello enforces equal versions', async () => {
    // Rules that are not strings are left out.
    const server = await serve({ hello: () => ({ op: 10, d: { rules: ['enforce_equal_versions', 7, null] } }) })
    const session = client(server.url, { version: '1.5.8' })
    const side = await server.connection(0)
    expect(await side.frame(0, 'CLIENT_VERSION')).toEqual({ op: 0, d: { v: '1.5.8' }, t: 'CLIENT_VERSION' })
    expect(session.rules).toEqual(['enforce_equal_versions'])
  })

  it('opens its sockets through the transport, offering the v2 subprotocol', async () => {
    const server = await serve()
    const offered: string[][] = []
    const factory = new ClientSession(server.url, {}, (url: string, protocols: string[]): WebSocketLike => {
      offered.push(protocols)
      return new WebSocket(url, protocols)
    })
    scope.defer(() => factory.disconnect())
    await factory.connect()
    expect(offered).toEqual([[SUBPROTOCOL_V2]])
    expect(factory.state).toBe('open')
  })

  it('rejects connect() with ConnectionClosedError when nothing listens, and reconnects meanwhile', async () => {
    const server = await serve()
    const url = server.url
    await server.close()
    const session = client(url, { autoConnect: false, backoff: { base: 60_000 } })
    const errors: Error[] = []
    session.on('error', (error) => errors.push(error))
    const disconnected = nextEvent(session, 'disconnected')
    await expect(session.connect()).rejects.toBeInstanceOf(ConnectionClosedError)
    const [code, , info] = await disconnected
    expect(code).toBe(1006)
    expect(info.willAttemptReconnect).toBe(true)
    expect(session.state).toBe('reconnecting')
    expect(errors.length).toBeGreaterThan(0)
  })

  it('validates its options with ConfigError', () => {
    expect(() => new ClientSession('ws://127.0.0.1:1', { maxQueueSize: -1, autoConnect: false }, wsTransport)).toThrow(
      ConfigError,
    )
    expect(() => new ClientSession('ws://127.0.0.1:1', { heartbeatGrace: Number.NaN }, wsTransport)).toThrow(ConfigError)
    expect(() => new ClientSession('not a url', {}, wsTransport)).toThrow(ConfigError)
    expect(() => new ClientSession(42 as unknown as string, {}, wsTransport)).toThrow('invalid url: 42')
    expect(() => new ClientSession('ws://127.0.0.1:1', { backoff: { base: 0 }, autoConnect: false }, wsTransport)).toThrow(
      'invalid backoff.base: 0',
    )
  })

  it('reports frames that are not Mesa frames as errors and carries on', async () => {
    const server = await serve()
    const session = client(server.url)
    const side = await server.connection(0)
    const errors: Error[] = []
    session.on('error', (error) => errors.push(error))
    const received: Message[] = []
    session.on('message', (message) => received.push(message))
    side.send('not json{')
    side.send('{"op":"0","d":{}}')
    side.send('{"op":0,"d":[]}')
    side.send(Buffer.from('binary'))
    side.send(dispatch('OK', { fine: true }))
    await waitFor('the good message', () => received[0])
    expect(errors).toHaveLength(4)
    expect(errors.every((error) => error.name === 'ProtocolError')).toBe(true)
    expect(session.state).toBe('open')
  })
})

describe('ClientSession: authentication', () => {
  it('authenticates after the hello with data and shouldSync and resolves with the user object', async () => {
    const server = await serve()
    const session = client(server.url)
    const states: SessionState[] = []
    session.on('stateChange', (state) => states.push(state))
    const side = await server.connection(0)
    const result = session.authenticate({ token: 'abc' }, { shouldSync: false })
    const auth = await side.frame(2)
    expect(auth).toEqual({ op: 2, d: { token: 'abc', shouldSync: false }, x: authX() })
    const authenticated = nextEvent(session, 'authenticated')
    side.send(ack({ id: '1', name: 'Ada' }, { streams: { user: { epoch: 'e1', seq: 4 } }, recovered: true }))
    await expect(result).resolves.toEqual({ id: '1', name: 'Ada' })
    const [event] = await authenticated
    expect(event).toEqual({
      user: { id: '1', name: 'Ada' },
      recovered: true,
      reason: undefined,
      streams: { user: { epoch: 'e1', seq: 4 } },
    })
    expect(session.positions).toEqual({ user: { epoch: 'e1', seq: 4 } })
    expect(session.state).toBe('authenticated')
    expect(states.slice(-2)).toEqual(['authenticating', 'authenticated'])
  })

  it('rejects with AuthenticationError rejected on close 1008 and does not reconnect', async () => {
    const server = await serve()
    const session = client(server.url, { backoff: { base: 10 } })
    const side = await server.connection(0)
    const result = session.authenticate({ token: 'bad' })
    await side.frame(2)
    const disconnected = nextEvent(session, 'disconnected')
    side.ws.close(CloseCode.AuthenticationFailed, 'bad token')
    await expect(result).rejects.toMatchObject({ name: 'AuthenticationError', code: 'rejected', message: 'bad token' })
    const [code, reason, info] = await disconnected
    expect([code, reason, info.willAttemptReconnect]).toEqual([1008, 'bad token', false])
    expect(session.state).toBe('closed')
    await delay(50)
    expect(server.sockets).toHaveLength(1)
  })

  it('times out with the client-side timeout, closes with 4002 and authenticates again on the next connection', async () => {
    const server = await serve()
    const session = client(server.url, { authenticationTimeout: 300, backoff: { base: 10 } })
    const first = await server.connection(0)
    const result = session.authenticate({ token: 't' })
    await expect(result).rejects.toMatchObject({ code: 'timeout' })
    expect(await first.closed()).toBe(CloseCode.AuthenticationTimeout)
    const second = await server.connection(1)
    expect((await second.frame(2)).d).toEqual({ token: 't', shouldSync: true })
    const authenticated = nextEvent(session, 'authenticated')
    second.send(ack({ id: 'u' }))
    await authenticated
    expect(session.state).toBe('authenticated')
  })

  it("uses the hello's c_authentication_timeout when no timeout is configured", async () => {
    const server = await serve({ hello: () => ({ op: 10, d: { c_authentication_timeout: 80, rules: [] } }) })
    const session = client(server.url)
    await server.connection(0)
    await expect(session.authenticate({})).rejects.toMatchObject({ code: 'timeout', message: 'timeout' })
  })

  it('rejects when closed, and an older call when a newer one supersedes it', async () => {
    const closed = new ClientSession('ws://127.0.0.1:1', { autoConnect: false }, wsTransport)
    await expect(closed.authenticate({})).rejects.toBeInstanceOf(AuthenticationError)
    const server = await serve()
    const session = client(server.url)
    const side = await server.connection(0)
    const older = session.authenticate({ n: 1 })
    const newer = session.authenticate({ n: 2 })
    await expect(older).rejects.toMatchObject({ code: 'superseded' })
    // Only the newer credentials go out.
    expect((await side.frame(2)).d).toEqual({ n: 2, shouldSync: true })
    await delay(20)
    expect(side.frames.filter((f) => f.op === 2)).toHaveLength(1)
    side.send(ack({ id: '2' }))
    await expect(newer).resolves.toEqual({ id: '2' })
  })

  it('rejects a pending authentication with code closed when the connection drops', async () => {
    const server = await serve()
    const session = client(server.url, { backoff: { base: 10 } })
    const side = await server.connection(0)
    const result = session.authenticate({})
    await side.frame(2)
    side.ws.terminate()
    await expect(result).rejects.toMatchObject({ code: 'closed' })
  })
})

describe('ClientSession: dead-server detection', () => {
  it('closes with 4005 after the heartbeat interval plus grace without a frame, then reconnects', async () => {
    const server = await serve({ hello: () => ({ op: 10, d: { c_heartbeat_interval: 50, rules: [] } }) })
    const session = client(server.url, { heartbeatGrace: 50, backoff: { base: 10 } })
    const first = await server.connection(0)
    const [code, , info] = await nextEvent(session, 'disconnected')
    expect(code).toBe(CloseCode.ServerUnresponsive)
    expect(info.willAttemptReconnect).toBe(true)
    expect(await first.closed()).toBe(CloseCode.ServerUnresponsive)
    const [connected] = await nextEvent(
      session,
      'connected',
    )
    expect(connected.isAutomaticReconnection).toBe(true)
    expect(connected.isInitialConnection).toBe(false)
  })

  it('stays connected while heartbeats keep coming', async () => {
    // 1.5 s of beats every 30 ms against a 400 ms limit: several limits long, with room for a loaded machine.
    const server = await serve({ hello: () => ({ op: 10, d: { c_heartbeat_interval: 30, rules: [] } }) })
    const session = client(server.url, { heartbeatGrace: 370 })
    const side = await server.connection(0)
    let disconnects = 0
    session.on('disconnected', () => disconnects++)
    for (let i = 0; i < 50; i++) {
      side.send({ op: 1, d: {} })
      await delay(30)
    }
    expect(disconnects).toBe(0)
    expect(session.state).toBe('open')
  })

  it('does not call a live server dead after this thread was frozen past the deadline', async () => {
    // The server beats from another thread, so its heartbeats keep arriving while this one is blocked, as
    // they do for a background tab whose timers are throttled or a laptop that slept.
    const worker = new Worker(
      `const { WebSocketServer } = require(${JSON.stringify(require.resolve('ws'))})
      const { parentPort } = require('node:worker_threads')
      const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => parentPort.postMessage(wss.address().port))
      wss.on('connection', (ws) => {
        ws.send(JSON.stringify({ op: 10, d: { c_heartbeat_interval: 50, rules: [] } }))
        const beat = setInterval(() => ws.send('{"op":1,"d":{}}'), 50)
        ws.on('close', () => clearInterval(beat))
      })
      parentPort.on('message', () => wss.close(() => process.exit(0)))`,
      { eval: true },
    )
    scope.defer(() => worker.terminate())
    const port = await new Promise<number>((resolve) => worker.once('message', resolve))
    const session = client(`ws://127.0.0.1:${port}`, { heartbeatGrace: 250 })
    const disconnects: number[] = []
    session.on('disconnected', (code) => disconnects.push(code))
    await waitFor('open', () => session.state === 'open')
    await delay(120)
    // Frozen for well over the 300 ms limit (interval 50 + grace 250).
    const frozenUntil = Date.now() + 800
    while (Date.now() < frozenUntil) {
      // Blocked: no timer and no socket event runs here.
    }
    await delay(300)
    expect(disconnects).toEqual([])
    expect(session.state).toBe('open')
  })
})

describe('ClientSession: reconnection', () => {
  it('backs off exponentially with full jitter from the hello base until a connection stays up', async () => {
    // Every connection is closed by the server right after its hello: none is stable, so the ceiling grows.
    const server = await serve({
      hello: (side) => {
        setTimeout(() => side.ws.close(1011, 'flaky'), 5)
        return { op: 10, d: { c_reconnect_interval: 8, rules: [] } }
      },
    })
    const draws: number[] = []
    const session = client(server.url, {
      backoff: {
        factor: 2,
        max: 1000,
        random: () => {
          draws.push(0.5)
          return 0.5
        },
      },
    })
    const delays: number[] = []
    session.on('disconnected', (_code, _reason, info) => {
      if (info.delay !== undefined) delays.push(info.delay)
    })
    await waitFor('five reconnects', () => delays.length >= 5, 10_000)
    // base 8 from the hello: ceilings 8, 16, 32, 64, 128; full jitter with random 0.5 gives half of each.
    expect(delays.slice(0, 5)).toEqual([4, 8, 16, 32, 64])
  })

  it('resets the backoff after a connection that stayed up for resetAfter', async () => {
    // The server closes connections 0-2 right after their hello, and connection 3 only after it stayed up
    // longer than resetAfter: the delay after it starts again from the base (8 ms from the hello).
    let count = 0
    const server = await serve({
      hello: (side) => {
        const n = count++
        setTimeout(() => side.ws.close(1011, 'flaky'), n === 3 ? 250 : 5)
        return { op: 10, d: { c_reconnect_interval: 8, rules: [] } }
      },
    })
    const session = client(server.url, { backoff: { resetAfter: 100, random: () => 0.5 } })
    const delays: number[] = []
    session.on('disconnected', (_code, _reason, info) => {
      if (info.delay !== undefined) delays.push(info.delay)
    })
    await waitFor('five closes', () => delays.length >= 5, 10_000)
    expect(delays.slice(0, 5)).toEqual([4, 8, 16, 4, 8])
  })

  it('also resets the backoff when the stable connection came after failed attempts', async () => {
    const probe = await ScriptedServer.start()
    const port = Number(new URL(probe.url).port)
    await probe.close()
    const session = client(`ws://127.0.0.1:${port}`, { backoff: { base: 4, resetAfter: 100, random: () => 0.5 } })
    const delays: number[] = []
    session.on('disconnected', (_code, _reason, info) => {
      if (info.delay !== undefined) delays.push(info.delay)
    })
    // Nothing listens: the attempts fail and the ceiling grows (4, 8, 16...).
    await waitFor('three failed attempts', () => delays.length >= 3)
    const server = await serve({
      port,
      hello: (side) => {
        setTimeout(() => side.ws.close(1011, 'restart'), 250)
        return { op: 10, d: { c_reconnect_interval: 40, rules: [] } }
      },
    })
    await server.connection(0)
    const failed = delays.length
    await waitFor('the stable connection closed', () => delays.length > failed)
    // Reset: half of the hello's base, not of a grown ceiling.
    expect(delays[failed]).toBe(20)
  })

  it('does not reconnect after terminal close codes', async () => {
    for (const code of [CloseCode.ProtocolError, CloseCode.DisconnectedByServer]) {
      const server = await serve()
      const session = client(server.url, { backoff: { base: 5 } })
      const side = await server.connection(0)
      const disconnected = nextEvent(session, 'disconnected')
      side.ws.close(code, 'bye')
      const [closeCode, , info] = await disconnected
      expect(closeCode).toBe(code)
      expect(info.willAttemptReconnect).toBe(false)
      expect(session.state).toBe('closed')
    }
  })

  it('does not reconnect after disconnect(), and connect() starts a new session', async () => {
    const server = await serve()
    const session = client(server.url, { backoff: { base: 5 } })
    const side = await server.connection(0)
    await waitFor('open', () => session.state === 'open')
    const disconnected = nextEvent(session, 'disconnected')
    session.disconnect(4321, 'bye')
    const [code, reason, info] = await disconnected
    expect([code, reason, info.willAttemptReconnect]).toEqual([4321, 'bye', false])
    expect(await side.closed()).toBe(4321)
    expect(session.state).toBe('closed')
    await delay(50)
    expect(server.sockets).toHaveLength(1)
    const connected = nextEvent(session, 'connected')
    await session.connect()
    const [info2] = await connected
    expect(info2).toMatchObject({ isInitialSessionConnection: true, isInitialConnection: false })
  })

  it('reconnectNow() skips the backoff wait', async () => {
    const server = await serve()
    const session = client(server.url, { backoff: { base: 60_000, max: 60_000, random: () => 0.99 } })
    const side = await server.connection(0)
    const disconnected = nextEvent(session, 'disconnected')
    side.ws.close(1011, 'restart')
    const [, , info] = await disconnected
    expect(info.delay).toBeGreaterThan(50_000)
    expect(session.state).toBe('reconnecting')
    session.reconnectNow()
    await server.connection(1)
    await waitFor('open again', () => session.state === 'open')
  })

  it('reconnectNow() never throws: a transport that can no longer open the URL is an error event, and the session closes', async () => {
    const server = await serve()
    let opened = 0
    const transport = (url: string, protocols: string[]) => {
      if (opened++ > 0) throw new TypeError('no more sockets')
      return wsTransport(url, protocols)
    }
    const session = new ClientSession(server.url, { backoff: { base: 60_000, max: 60_000 } }, transport)
    scope.defer(() => session.disconnect())
    const errors: Error[] = []
    session.on('error', (error) => errors.push(error))
    const side = await server.connection(0)
    side.ws.close(1011, 'restart')
    await waitFor('reconnecting', () => session.state === 'reconnecting')
    expect(() => session.reconnectNow()).not.toThrow()
    expect(session.state).toBe('closed')
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(ConfigError)
    expect(errors[0]!.message).toBe('invalid url: TypeError: no more sockets')
  })

  it('runs at most two timers while connected and none after disconnect()', async () => {
    const server = await serve({ hello: () => ({ op: 10, d: { c_heartbeat_interval: 1000, rules: [] } }) })
    // Only the timer functions are faked, so sockets stay real and the count is exactly the timers pending.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    scope.defer(() => vi.useRealTimers())
    const session = new ClientSession(server.url, { backoff: { base: 60_000 } }, wsTransport)
    scope.defer(() => session.disconnect())
    const side = await waitFor('connection', () => server.sockets[0], 10_000, 0)
    const pending = session.authenticate({})
    pending.catch(() => undefined)
    await waitFor('op 2', () => side.frames.find((f) => f.op === 2), 10_000, 0)
    // The heartbeat monitor and the authentication timeout.
    expect(vi.getTimerCount()).toBe(2)
    session.disconnect()
    await expect(pending).rejects.toMatchObject({ code: 'closed' })
    // ws's own close-handshake timer goes once the server has answered the close.
    await waitFor('no timers', () => vi.getTimerCount() === 0, 10_000, 0)
    expect(session.state).toBe('closed')
  })
})

describe('ClientSession: outgoing queue', () => {
  it('queues while offline up to maxQueueSize, throws QueueFullError beyond, flushes in order on open, before connected', async () => {
    const server = await serve()
    const session = client(server.url, { autoConnect: false, maxQueueSize: 3 })
    for (let i = 1; i <= 3; i++) session.send(new Message(0, { i }, 'N'))
    expect(() => session.send(new Message(0, { i: 4 }, 'N'))).toThrow(QueueFullError)
    expect(session.queued).toBe(3)
    // Sent from a `connected` listener: must not overtake what was queued before.
    session.once('connected', () => session.send(new Message(0, { i: 'on connect' }, 'N')))
    await session.connect()
    const side = await server.connection(0)
    await waitFor('four messages', () => side.frames.filter((f) => f.t === 'N').length === 4)
    expect(side.frames.filter((f) => f.t === 'N').map((f) => f.d.i)).toEqual([1, 2, 3, 'on connect'])
    expect(session.queued).toBe(0)
  })

  it('bounds the queue by bytes too: QueueFullError past maxQueueBytes, counted as serialized frame lengths', async () => {
    const server = await serve()
    const frame = new Message(0, { text: 'x'.repeat(70) }, 'N').serialize()
    // Room for exactly two of these frames, not three; the count bound is far away.
    const session = client(server.url, { autoConnect: false, maxQueueBytes: frame.length * 3 - 1 })
    session.send(new Message(0, { text: 'x'.repeat(70) }, 'N'))
    session.send(new Message(0, { text: 'x'.repeat(70) }, 'N'))
    expect(() => session.send(new Message(0, { text: 'x'.repeat(70) }, 'N'))).toThrow(QueueFullError)
    expect(() => session.send(new Message(0, { text: 'x'.repeat(70) }, 'N'))).toThrow(/^queue full: \d+ bytes$/)
    expect(session.queued).toBe(2)
    // A smaller message still fits in what is left.
    session.send(new Message(0, {}, 'SMALL'))
    await session.connect()
    const side = await server.connection(0)
    await waitFor('three messages', () => side.frames.length === 3)
    expect(side.frames.map((f) => f.t)).toEqual(['N', 'N', 'SMALL'])
    // Flushing frees the bytes: the queue takes as much again.
    session.disconnect()
    for (let i = 0; i < 2; i++) session.send(new Message(0, { text: 'x'.repeat(70) }, 'N'))
    expect(session.queued).toBe(2)
  })

  it('validates maxQueueBytes and defaults it to 1 MiB', () => {
    for (const maxQueueBytes of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new ClientSession('ws://127.0.0.1:1', { maxQueueBytes, autoConnect: false }, wsTransport)).toThrow(ConfigError)
    }
    const session = new ClientSession('ws://127.0.0.1:1', { autoConnect: false }, wsTransport)
    const big = 'x'.repeat(512 * 1024)
    session.send(new Message(0, { big }, 'HALF'))
    expect(() => session.send(new Message(0, { big }, 'HALF'))).toThrow(QueueFullError)
    session.send(new Message(0, { small: true }, 'SMALL'))
    expect(session.queued).toBe(2)
  })

  it('after a reconnect, holds messages until re-authentication with the last credentials, then flushes them', async () => {
    const server = await serve()
    const session = client(server.url, { backoff: { base: 10 } })
    const first = await server.connection(0)
    const auth = session.authenticate({ token: 'secret' })
    await first.frame(2)
    first.send(ack({ id: 'u1' }))
    await auth
    session.send(new Message(0, { n: 1 }, 'LIVE'))
    await first.frame(0, 'LIVE')
    session.once('disconnected', () => session.send(new Message(0, { n: 2 }, 'QUEUED')))
    first.ws.terminate()
    const second = await server.connection(1)
    const reauth = await second.frame(2)
    expect(reauth.d).toEqual({ token: 'secret', shouldSync: true })
    session.send(new Message(0, { n: 3 }, 'QUEUED'))
    await delay(50)
    expect(second.frames.filter((f) => f.op === 0)).toEqual([])
    const count = second.frames.length
    const authenticated = nextEvent(session, 'authenticated')
    second.send(ack({ id: 'u1' }))
    expect((await authenticated)[0].user).toEqual({ id: 'u1' })
    await waitFor('flushed', () => second.frames.filter((f) => f.t === 'QUEUED').length === 2)
    expect(second.frames.slice(count).map((f) => f.d.n)).toEqual([2, 3])
  })
})

describe('ClientSession: resume and exactly-once delivery (protocol 2)', () => {
  it('delivers each synced message once per stream, resumes from its positions and skips replayed duplicates', async () => {
    const server = await serve()
    const session = client(server.url, { backoff: { base: 10 } })
    const seen: string[] = []
    session.on('message', (message) => seen.push(`${message.type}:${message.sequence ?? '-'}`))
    const first = await server.connection(0)
    const auth = session.authenticate({ token: 't' })
    expect((await first.frame(2)).x).toEqual(authX())
    first.send(
      ack({ id: 'u' }, { streams: { user: { epoch: 'e1', seq: 5 }, global: { epoch: 'g1', seq: 2 } }, recovered: true }),
    )
    await auth
    first.send(dispatch('U', {}, 6))
    first.send(dispatch('U', {}, 6))
    first.send(dispatch('U', {}, 5))
    first.send(dispatch('G', {}, 3, 'g'))
    first.send(dispatch('U', {}, 7))
    first.send(dispatch('G', {}, 3, 'g'))
    first.send(dispatch('TYPING', {}))
    first.send(dispatch('TYPING', {}))
    await waitFor('all delivered', () => seen.length === 5)
    expect(seen).toEqual(['U:6', 'G:3', 'U:7', 'TYPING:-', 'TYPING:-'])
    expect(session.positions).toEqual({ user: { epoch: 'e1', seq: 7 }, global: { epoch: 'g1', seq: 3 } })

    first.ws.terminate()
    const second = await server.connection(1)
    const reauth = await second.frame(2)
    expect(reauth.x).toEqual(authX({ user: { epoch: 'e1', seq: 7 }, global: { epoch: 'g1', seq: 3 } }))
    const authenticated = nextEvent(session, 'authenticated')
    second.send(
      ack({ id: 'u' }, { streams: { user: { epoch: 'e1', seq: 9 }, global: { epoch: 'g1', seq: 3 } }, recovered: true }),
    )
    expect((await authenticated)[0]).toMatchObject({ recovered: true })
    // Still at 7: the replay of 8 and 9 follows and must be delivered.
    expect(session.positions.user).toEqual({ epoch: 'e1', seq: 7 })
    for (const s of [7, 8, 8, 9, 10]) second.send(dispatch('U', {}, s))
    await waitFor('replay delivered', () => seen.length === 8)
    expect(seen.slice(5)).toEqual(['U:8', 'U:9', 'U:10'])
  })

  it('holds back what arrives while its resume is pending (the replay brings it in order), and takes a head below its position', async () => {
    const server = await serve()
    const session = client(server.url, { backoff: { base: 10 } })
    const seen: number[] = []
    session.on('message', (message) => seen.push(message.sequence!))
    const first = await server.connection(0)
    const auth = session.authenticate({})
    await first.frame(2)
    first.send(ack({}, { streams: { user: { epoch: 'e', seq: 3 } }, recovered: true }))
    await auth
    first.ws.terminate()
    const second = await server.connection(1)
    expect((await second.frame(2)).x).toEqual(authX({ user: { epoch: 'e', seq: 3 } }))
    // Live before the answer to the resume: held back, as 4 is still to be replayed.
    second.send(dispatch('U', {}, 5))
    const authenticated = nextEvent(session, 'authenticated')
    second.send(ack({}, { streams: { user: { epoch: 'e', seq: 5 } }, recovered: true }))
    await authenticated
    for (const s of [4, 5]) second.send(dispatch('U', {}, s))
    await waitFor('the replay', () => seen.length === 2)
    expect(seen).toEqual([4, 5])
    // A server whose head is below the position it was sent (same epoch) cannot have replayed from it: its head wins.
    second.ws.terminate()
    const third = await server.connection(2)
    await third.frame(2)
    const again = nextEvent(session, 'authenticated')
    third.send(ack({}, { streams: { user: { epoch: 'e', seq: 2 } }, recovered: true }))
    await again
    expect(session.positions.user).toEqual({ epoch: 'e', seq: 2 })
  })

  it('adopts the heads and emits resync with the reason when the server could not recover', async () => {
    const server = await serve()
    const session = client(server.url, {
      backoff: { base: 10 },
      positions: { user: { epoch: 'old', seq: 40 } },
    })
    const side = await server.connection(0)
    const auth = session.authenticate({})
    expect((await side.frame(2)).x).toEqual(authX({ user: { epoch: 'old', seq: 40 } }))
    const resync = nextEvent(session, 'resync')
    const authenticated = nextEvent(session, 'authenticated')
    side.send(ack({ id: 'u' }, { streams: { user: { epoch: 'new', seq: 3 } }, recovered: false, reason: 'epoch-changed' }))
    await auth
    expect(await resync).toEqual(['epoch-changed', { user: { epoch: 'new', seq: 3 } }])
    expect((await authenticated)[0]).toMatchObject({ recovered: false, reason: 'epoch-changed' })
    const seen: number[] = []
    session.on('message', (message) => seen.push(message.sequence!))
    for (const s of [3, 4]) side.send(dispatch('U', {}, s))
    await waitFor('live after resync', () => seen[0])
    expect(seen).toEqual([4])
  })

  it('sends no resume when shouldSync is false, and adopts the heads', async () => {
    const server = await serve()
    const session = client(server.url, { positions: { user: { epoch: 'e', seq: 1 } } })
    const side = await server.connection(0)
    const auth = session.authenticate({}, { shouldSync: false })
    expect((await side.frame(2)).x).toEqual(authX())
    side.send(ack({}, { streams: { user: { epoch: 'e', seq: 10 } }, recovered: true }))
    await auth
    expect(session.positions).toEqual({ user: { epoch: 'e', seq: 10 } })
  })
})

describe('ClientSession: Mesa 1.x servers', () => {
  it('speaks 1.x when no subprotocol is accepted: no x, no dedup of the per-batch s', async () => {
    const server = await serve({ v2: false })
    // ws 8 fails a handshake whose answer names no subprotocol although one was offered (browsers accept it);
    // offering none gives the same 1.x connection a browser gets from a server that refuses mesa.v2.
    const session = new ClientSession(server.url, { positions: { user: { epoch: 'e', seq: 100 } } }, (url: string) => new WebSocket(url))
    scope.defer(() => session.disconnect())
    const side = await server.connection(0)
    expect(side.protocol).toBe('')
    const auth = session.authenticate({ token: 't' })
    expect(await side.frame(2)).toEqual({ op: 2, d: { token: 't', shouldSync: true } })
    side.send(ack({ id: 'u' }, { streams: { user: { epoch: 'x', seq: 1 } }, recovered: false }))
    const resyncs: unknown[] = []
    session.on('resync', (reason) => resyncs.push(reason))
    await auth
    const seen: number[] = []
    session.on('message', (message) => seen.push(message.sequence!))
    for (const s of [1, 2, 1, 2]) side.send(dispatch('M', {}, s))
    await waitFor('four messages', () => seen.length === 4)
    expect(seen).toEqual([1, 2, 1, 2])
    expect(resyncs).toEqual([])
    expect(session.protocol).toBe(1)
  })

  it('speaks 1.x to a server that echoes the subprotocol but sends a 1.x hello (ws 7 does that)', async () => {
    const server = await serve({ hello: () => ({ op: 10, d: { rules: [] } }) })
    const session = client(server.url, { positions: { user: { epoch: 'e', seq: 100 } } })
    const side = await server.connection(0)
    expect(side.protocol).toBe(SUBPROTOCOL_V2)
    const auth = session.authenticate({})
    expect((await side.frame(2)).x).toBeUndefined()
    side.send(ack({}))
    await auth
    expect(session.protocol).toBe(1)
  })
})

describe('ClientSession: typed message maps', () => {
  it('types incoming messages as a union discriminated by type, and outgoing ones by the outgoing map', async () => {
    // Interfaces (type aliases work too, see the portal tests): `MessageMap<M>` needs no index signature.
    interface Incoming {
      NEW_MESSAGE: { content: string }
      STATUS: { online: boolean }
    }
    interface Outgoing {
      TYPING: { room: string }
    }
    const server = await serve()
    const session = new ClientSession<Incoming, Outgoing, { id: string }>(server.url, {}, wsTransport)
    scope.defer(() => session.disconnect())
    const side = await server.connection(0)
    const contents: string[] = []
    session.on('message', (message) => {
      if (message.type === 'NEW_MESSAGE') contents.push(message.data.content)
      // @ts-expect-error: STATUS data has no content
      else contents.push(message.data.content)
    })
    session.send(new Message(0, { room: 'a' }, 'TYPING'))
    // @ts-expect-error: message data must be an object
    new ClientSession<{ BAD: string }>('ws://127.0.0.1:1', { autoConnect: false }, wsTransport)
    // @ts-expect-error: not an outgoing type
    expect(() => session.send(new Message(0, { content: 'x' }, 'NEW_MESSAGE'))).not.toThrow()
    side.send(dispatch('NEW_MESSAGE', { content: 'hi' }))
    await waitFor('typed message', () => contents[0])
    expect(contents).toEqual(['hi'])
    const user: Promise<{ id: string }> = session.authenticate({})
    side.send(ack({ id: 'typed' }))
    await expect(user).resolves.toEqual({ id: 'typed' })
  })
})

describe('ClientSession: typed channel and request maps', () => {
  it('types subscriptions by channel and requests and their replies by type', async () => {
    type Channels = {
      [room: `room:${string}`]: { SAY: { text: string }; JOIN: { user: string } }
      ticker: { PRICE: { price: number } }
    }
    interface Requests {
      GET_PROFILE: { request: { id: string }; reply: { name: string } }
      PING: { request: Record<string, never>; reply: { at: number } }
    }
    const server = await serve()
    const session = new ClientSession<{ N: { n: number } }, { N: { n: number } }, unknown, Channels, Requests>(server.url, {}, wsTransport)
    scope.defer(() => session.disconnect())
    const side = await server.connection(0)
    const texts: string[] = []
    const room = session.subscribe('room:1')
    room.on('message', (message) => {
      if (message.type === 'SAY') texts.push(message.data.text)
      // @ts-expect-error: JOIN data has no text
      else texts.push(message.data.text)
    })
    session.subscribe('ticker').on('message', (message) => {
      const price: number = message.data.price
      expect(price).toBeTypeOf('number')
    })
    // @ts-expect-error: not a channel of the map
    session.subscribe('elsewhere')
    session.onRequest('PING', () => ({ at: 1 }))
    // @ts-expect-error: the reply of PING has no name
    session.onRequest('PING', () => ({ name: 'x' }))
    const profile = session.request(new Message(0, { id: 'u1' }, 'GET_PROFILE'))
    // @ts-expect-error: the request data of GET_PROFILE is { id: string }
    session.request(new Message(0, { id: 1 }, 'GET_PROFILE')).catch(() => undefined)
    const sent = await side.frame(40, 'GET_PROFILE')
    side.send({ op: 41, d: { name: 'Ada' }, x: { re: sent.x!.id } })
    const name: string = (await profile).data.name
    expect(name).toBe('Ada')
    session.disconnect()
    void room
    void texts
  })
})

describe('ClientSession: authenticate() while reconnecting', () => {
  it('sends the credentials once the next connection has its hello', async () => {
    const server = await serve()
    const session = client(server.url, { backoff: { base: 60_000, max: 60_000 } })
    const first = await server.connection(0)
    await waitFor('open', () => session.state === 'open')
    first.ws.close(1011, 'restart')
    await waitFor('reconnecting', () => session.state === 'reconnecting')
    const result = session.authenticate({ token: 'later' })
    session.reconnectNow()
    const second = await server.connection(1)
    expect((await second.frame(2)).d).toEqual({ token: 'later', shouldSync: true })
    second.send(ack({ id: 'later' }))
    await expect(result).resolves.toEqual({ id: 'later' })
  })
})

