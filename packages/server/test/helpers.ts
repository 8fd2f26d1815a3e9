import { randomBytes } from 'node:crypto'
import { once as onceEvent } from 'node:events'
import { createConnection, type Socket } from 'node:net'
import type { EventMap, Frame, TypedEmitter } from '@mesa/core'
import { afterEach, expect } from 'vitest'
import * as ws from 'ws'
import WebSocket from 'ws'
import { Mesa, type MesaOptions } from '../src/index.js'

/** A frame as the tests see it (parsed JSON): the wire shape of core's `Frame`. */
export type WireFrame = Frame

const DEFAULT_TIMEOUT = 5000

/** A raw `ws` client speaking the wire protocol, so tests see the server's frames as they are. */
export class TestSocket {
  readonly frames: WireFrame[] = []
  closeCode: number | undefined
  closeReason: string | undefined
  /** Answer op 1 with op 11 (a live client); set false to play a client that stopped acking. */
  autoAck = true
  /** Called with every frame as it arrives, before waiters are checked. */
  readonly onFrame: ((frame: WireFrame) => void)[] = []
  readonly closed: Promise<{ code: number; reason: string }>
  private readonly waiters = new Set<() => void>()

  private constructor(readonly ws: WebSocket) {
    ws.on('error', () => {})
    ws.on('message', (data, isBinary) => {
      if (isBinary) return
      const frame = JSON.parse(String(data)) as WireFrame
      this.frames.push(frame)
      if (frame.op === 1 && this.autoAck) this.send({ op: 11, d: {} })
      for (const listener of this.onFrame) listener(frame)
      this.notify()
    })
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        this.closeCode = code
        this.closeReason = reason.toString()
        this.notify()
        resolve({ code, reason: this.closeReason })
      })
    })
  }

  /** `headers`: extra headers of the upgrade request (`Origin`, credentials). */
  static async open(url: string, options: { v2?: boolean; headers?: Record<string, string> } = {}): Promise<TestSocket> {
    const ws = new WebSocket(url, options.v2 ? ['mesa.v2'] : [], { headers: options.headers })
    const socket = new TestSocket(ws)
    sockets.add(socket)
    await socket.waitFor(() => socket.frames.some((f) => f.op === 10), 'hello')
    return socket
  }

  get hello(): WireFrame {
    return this.frames.find((f) => f.op === 10)!
  }

  /** op 0 frames received, in order. */
  get messages(): WireFrame[] {
    return this.frames.filter((f) => f.op === 0)
  }

  send(frame: object | string): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /** Sends op 2 and waits for op 22. */
  async authenticate(data: Record<string, unknown>, x?: Record<string, unknown>): Promise<WireFrame> {
    const before = this.frames.length
    this.send(x ? { op: 2, d: data, x } : { op: 2, d: data })
    await this.waitFor(() => this.frames.slice(before).some((f) => f.op === 22), 'op 22')
    return this.frames.slice(before).find((f) => f.op === 22)!
  }

  /** Waits until `count` op 0 frames arrived. */
  async waitMessages(count: number, timeout = DEFAULT_TIMEOUT): Promise<WireFrame[]> {
    await this.waitFor(() => this.messages.length >= count, `${count} messages`, timeout)
    return this.messages
  }

  waitClose(timeout = DEFAULT_TIMEOUT): Promise<{ code: number; reason: string }> {
    return withTimeout(this.closed, timeout, 'close')
  }

  waitFor(predicate: () => boolean, what: string, timeout = DEFAULT_TIMEOUT): Promise<void> {
    if (predicate()) return Promise.resolve()
    return withTimeout(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (!predicate()) return
          this.waiters.delete(check)
          resolve()
        }
        this.waiters.add(check)
      }),
      timeout,
      what,
    )
  }

  close(code?: number): void {
    this.ws.close(code)
  }

  terminate(): void {
    this.ws.terminate()
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter()
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Resolves with the first emission of `event` (its arguments). */
export function once<E extends EventMap<E>, K extends keyof E & string>(
  emitter: TypedEmitter<E>,
  event: K,
  timeout = DEFAULT_TIMEOUT,
): Promise<E[K]> {
  return withTimeout(new Promise<E[K]>((resolve) => emitter.once(event, (...args: E[K]) => resolve(args))), timeout, event)
}

interface Closable {
  close(): Promise<void>
}

const servers = new Set<Closable>()
const sockets = new Set<TestSocket>()
const rawSockets = new Set<Socket>()

/** Starts a server on 127.0.0.1, a free port; closed after the test. */
export async function startServer(options: MesaOptions = {}): Promise<{ mesa: Mesa; url: string }> {
  const mesa = new Mesa({ port: 0, host: '127.0.0.1', ...options })
  servers.add(mesa)
  await mesa.listening()
  return { mesa, url: `ws://127.0.0.1:${mesa.port}${options.path ?? ''}` }
}

/** Closes this server after the test. */
export function track<S extends Closable>(mesa: S): S {
  servers.add(mesa)
  return mesa
}

/** Accepts every authentication: the auth data's `id` becomes the user id, with user object `{ name: id }`. */
export function acceptIds(mesa: Mesa): void {
  mesa.on('connection', (client) => {
    client.authenticate((data, done) => done(null, { id: String(data.id), user: { name: data.id } }))
  })
}

/** A socket authenticated as `id` (on a server that `acceptIds`). */
export async function user(url: string, id: string, v2 = false): Promise<TestSocket> {
  const socket = await TestSocket.open(url, { v2 })
  await socket.authenticate({ id })
  return socket
}

/** ws exports its frame builder (`Sender.frame`), though @types/ws does not declare it. */
const { Sender } = ws as unknown as { Sender: { frame(data: Buffer, options: object): Buffer[] } }

/** A client speaking WebSocket by hand over TCP; `rawSocket` opens it. */
export interface RawSocket {
  /** Sends one masked text frame (a string as is, anything else as JSON). */
  send(frame: unknown): void
  /** Writes bytes as they are: a frame header announcing a payload that never comes, half a frame... */
  write(bytes: Buffer): void
  /** Resolves with the code of the first close frame the server sends (a raw socket never answers it). */
  closeFrame: Promise<number>
  /** Resolves when the server drops the TCP connection. */
  cut: Promise<void>
  socket: Socket
}

/** The header of a masked text frame announcing `length` payload bytes (mask key 0, so the payload is plain). */
export function maskedHeader(length: number): Buffer {
  if (length < 126) return Buffer.from([0x81, 0x80 | length, 0, 0, 0, 0])
  if (length < 65536) return Buffer.from([0x81, 0x80 | 126, length >> 8, length & 0xff, 0, 0, 0, 0])
  const header = Buffer.alloc(14)
  header[0] = 0x81
  header[1] = 0x80 | 127
  header.writeBigUInt64BE(BigInt(length), 2)
  return header
}

/**
 * A client speaking WebSocket by hand, as a hostile or broken peer would: it never answers a close frame, keeps
 * sending after it, and can write any bytes.
 */
export async function rawSocket(url: string): Promise<RawSocket> {
  const { hostname, port } = new URL(url)
  const socket = createConnection(Number(port), hostname)
  rawSockets.add(socket)
  await onceEvent(socket, 'connect')
  const cut = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.on('error', () => {})
  let received = Buffer.alloc(0)
  let upgraded = false
  let closed: (code: number) => void = () => {}
  const closeFrame = new Promise<number>((resolve) => {
    closed = resolve
  })
  const open = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      if (!upgraded) {
        const end = received.indexOf('\r\n\r\n')
        if (end === -1) return
        expect(received.subarray(0, 12).toString('latin1')).toBe('HTTP/1.1 101')
        upgraded = true
        received = received.subarray(end + 4)
        resolve()
      }
      // Server frames are unmasked; payloads here are short (hello, close), so a 16-bit length at most.
      while (received.length >= 2) {
        const short = received[1]! & 0x7f
        const headerLength = short === 126 ? 4 : 2
        const length = short === 126 ? received.readUInt16BE(2) : short
        if (received.length < headerLength + length) return
        if ((received[0]! & 0x0f) === 0x8) closed(length >= 2 ? received.readUInt16BE(headerLength) : 1005)
        received = received.subarray(headerLength + length)
      }
    })
  })
  socket.write(
    `GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  )
  await open
  const write = (bytes: Buffer): void => {
    if (!socket.destroyed) socket.write(bytes)
  }
  const send = (frame: unknown): void => {
    const data = Buffer.from(typeof frame === 'string' ? frame : JSON.stringify(frame))
    write(Buffer.concat(Sender.frame(data, { fin: true, rsv1: false, opcode: 1, mask: true, readOnly: false })))
  }
  return { send, write, closeFrame, cut, socket }
}

/**
 * The naive deep merge applications write (and prototype-pollution attacks target): it follows every key of
 * `source`, `__proto__` and `constructor` included, into whatever `target` already holds under that key.
 */
export function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>): Record<string, unknown> {
  for (const key of Object.keys(source)) {
    const value = source[key]
    if (typeof value === 'object' && value !== null) {
      target[key] ??= {}
      deepMerge(target[key] as Record<string, unknown>, value as Record<string, unknown>)
    } else target[key] = value
  }
  return target
}

/** Resolves once `predicate` holds, checked every few ms (for state no event announces). */
export async function until(predicate: () => boolean, what: string, timeout = DEFAULT_TIMEOUT): Promise<void> {
  const deadline = Date.now() + timeout
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Lets pending I/O and microtasks run (for asserting that something did NOT arrive). */
export function settle(ms = 50): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

afterEach(async () => {
  for (const socket of sockets) socket.terminate()
  sockets.clear()
  for (const socket of rawSockets) socket.destroy()
  rawSockets.clear()
  await Promise.all([...servers].map((mesa) => mesa.close()))
  servers.clear()
})
