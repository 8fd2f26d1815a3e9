import type { EventMap, Frame, TypedEmitter } from '@mesa/core'
import { afterEach } from 'vitest'
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

  static async open(url: string, options: { v2?: boolean } = {}): Promise<TestSocket> {
    const ws = options.v2 ? new WebSocket(url, ['mesa.v2']) : new WebSocket(url)
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

/** Lets pending I/O and microtasks run (for asserting that something did NOT arrive). */
export function settle(ms = 50): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

afterEach(async () => {
  for (const socket of sockets) socket.terminate()
  sockets.clear()
  await Promise.all([...servers].map((mesa) => mesa.close()))
  servers.clear()
})
