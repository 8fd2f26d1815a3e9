import { randomBytes } from 'node:crypto'
import { connect as tcpConnect } from 'node:net'
import { withTimeout } from '@mesa/test-kit'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { HeartbeatSweep } from '../src/heartbeat-sweep.js'
import { CloseCode } from '../src/index.js'
import { connect, startServer } from './helpers.js'

afterEach(() => {
  vi.restoreAllMocks()
})

describe('heartbeats', () => {
  it('beats every socket with {} while it acks', async () => {
    // Long enough that an ack delayed by a loaded machine still arrives before the next round counts it missed.
    const { url } = await startServer({ heartbeat: { enabled: true, interval: 250 } })
    const socket = await connect(url)
    expect(socket.hello.d.c_heartbeat_interval).toBe(250)
    await socket.waitFor('4 heartbeats', () => socket.frames.filter((f) => f.op === 1).length >= 4)
    expect(socket.frames.filter((f) => f.op === 1).every((f) => JSON.stringify(f.d) === '{}')).toBe(true)
    expect(socket.closeCode).toBeUndefined()
  })

  it('counts missed acks with { tries, max } and closes with 4003 after maxAttempts; an acking socket stays', async () => {
    const { url } = await startServer({ heartbeat: { enabled: true, interval: 40, maxAttempts: 2 } })
    const silent = await connect(url)
    silent.autoAck = false
    const alive = await connect(url)
    const closed = await silent.waitClose()
    expect(closed.code).toBe(CloseCode.HeartbeatTimeout)
    const beats = silent.frames.filter((f) => f.op === 1).map((f) => f.d)
    expect(beats).toEqual([{}, { tries: 1, max: 2 }, { tries: 2, max: 2 }])
    expect(alive.closeCode).toBeUndefined()
  })

  it('cuts a socket whose client sent its close frame and went silent, after the heartbeat timeout and closeTimeout', async () => {
    // What a browser whose network dropped right after it closed its socket leaves behind: the close frame arrived,
    // the end of the TCP connection never does. The server must not keep it (and its presence) for ws's own 30 s.
    const { mesa, url } = await startServer({ heartbeat: { enabled: true, interval: 50, maxAttempts: 1 }, limits: { closeTimeout: 200 } })
    const disconnected = new Promise<number>((resolve) => mesa.once('disconnection', (code) => resolve(code)))
    const socket = tcpConnect({ port: Number(new URL(url).port), host: '127.0.0.1', allowHalfOpen: true })
    const upgraded = new Promise<void>((resolve) => socket.once('data', () => resolve()))
    socket.write(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    )
    await upgraded
    // A masked close frame (FIN, opcode 8, code 1000), then nothing: the socket is neither read nor ended.
    const mask = randomBytes(4)
    const payload = Buffer.from([0x03, 0xe8]).map((byte, i) => byte ^ mask[i % 4]!)
    socket.write(Buffer.concat([Buffer.from([0x88, 0x80 | payload.length]), mask, payload]))
    socket.pause()
    try {
      expect(await withTimeout('the server to let go of the socket', disconnected, 5000)).toBe(1000)
    } finally {
      socket.destroy()
    }
  })

  it('uses one timer for all sockets, not one per socket', async () => {
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval')
    const { url } = await startServer({ heartbeat: { enabled: true, interval: 1000 }, authentication: { timeout: 0 } })
    await Promise.all(Array.from({ length: 10 }, () => connect(url)))
    const sweepTimers = setIntervalSpy.mock.calls.filter(([, ms]) => ms === 1000)
    expect(sweepTimers).toHaveLength(1)
  })

  it('the sweep stops its timer when the last socket goes and times out authentication on the same tick', () => {
    vi.useFakeTimers()
    try {
      let now = 0
      const beats: [string, number | undefined][] = []
      const timeouts: [string, string][] = []
      const sweep = new HeartbeatSweep<string>({
        heartbeatInterval: 100,
        maxAttempts: 5,
        authenticationTimeout: 250,
        closeTimeout: 1000,
        onBeat: (socket, tries) => beats.push([socket, tries]),
        onTimeout: (socket, cause) => timeouts.push([socket, cause]),
        now: () => now,
      })
      sweep.add('a')
      sweep.add('b')
      sweep.expectAuthentication('b', 0)
      const advance = (ms: number): void => {
        for (let i = 0; i < ms / 25; i++) {
          now += 25
          vi.advanceTimersByTime(25)
        }
      }
      advance(100)
      sweep.ack('a')
      advance(100)
      expect(beats).toEqual([
        ['a', undefined],
        ['b', undefined],
        ['a', undefined],
        ['b', 1],
      ])
      advance(100)
      expect(beats.slice(4)).toEqual([
        ['a', 1],
        ['b', 2],
      ])
      expect(timeouts).toEqual([['b', 'authentication']])
      sweep.remove('a')
      sweep.remove('b')
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })

  it('cuts a socket whose closing handshake did not finish within closeTimeout, and beats it no more', () => {
    vi.useFakeTimers()
    try {
      let now = 0
      const beats: string[] = []
      const timeouts: [string, string][] = []
      const sweep = new HeartbeatSweep<string>({
        heartbeatInterval: 100,
        maxAttempts: 5,
        authenticationTimeout: 0,
        closeTimeout: 400,
        onBeat: (socket) => beats.push(socket),
        onTimeout: (socket, cause) => timeouts.push([socket, cause]),
        now: () => now,
      })
      sweep.add('closing')
      sweep.closing('closing')
      const advance = (ms: number): void => {
        now += ms
        vi.advanceTimersByTime(ms)
      }
      for (let i = 0; i < 3; i++) advance(100)
      expect(timeouts).toEqual([])
      advance(100)
      advance(100)
      expect(timeouts).toEqual([['closing', 'close']])
      expect(beats).toEqual([])
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })
})
