import { randomBytes } from 'node:crypto'
import { once as onceEvent } from 'node:events'
import { createConnection, type Socket } from 'node:net'
import type { Adapter, MemoryAdapter } from '@mesa/core/server'
import { authenticatedClient, RawClient, type RawClientOptions, Scope } from '@mesa/test-kit'
import { afterEach, expect } from 'vitest'
import * as ws from 'ws'
import { Mesa, type MesaOptions } from '../src/index.js'

/** Servers and sockets the current test opened: released after it, newest first. */
const scope = new Scope()
afterEach(() => scope.cleanup())

/** A raw wire client (`@mesa/test-kit`'s `RawClient`) on `url`, terminated after the test. */
export async function connect(url: string, options?: RawClientOptions): Promise<RawClient> {
  return scope.add(await RawClient.connect(url, options), (socket) => socket.terminate())
}

/** Starts a server on 127.0.0.1, a free port; closed after the test. */
export async function startServer(options: MesaOptions = {}): Promise<{ mesa: Mesa; url: string }> {
  const mesa = track(new Mesa({ port: 0, host: '127.0.0.1', ...options }))
  await mesa.listening()
  return { mesa, url: `ws://127.0.0.1:${mesa.port}${options.path ?? ''}` }
}

/** Closes this server after the test. */
export function track<S extends { close(): Promise<void> }>(mesa: S): S {
  return scope.add(mesa, (m) => m.close())
}

/** Accepts every authentication: the auth data's `id` becomes the user id, with user object `{ name: id }`. */
export function acceptIds(mesa: Mesa): void {
  mesa.on('connection', (client) => {
    client.authenticate((data, done) => done(null, { id: String(data.id), user: { name: data.id } }))
  })
}

/** A raw client (1.x unless `v2`) authenticated as `id` (on a server that `acceptIds`), terminated after the test. */
export function user(url: string, id: string, v2 = false): Promise<RawClient> {
  return authenticatedClient(scope, url, id, v2)
}

/** `inner`, but for how envelopes are published (held back, reordered): what tests of out-of-order delivery use. */
export function publishingThrough(inner: MemoryAdapter, publish: Adapter['publish']): Adapter {
  return {
    namespace: inner.namespace,
    presence: inner.presence,
    store: inner.store,
    portal: inner.portal,
    dedupe: inner.dedupe,
    userChannels: inner.userChannels,
    follow: (origin, channels) => inner.follow(origin, channels),
    unfollow: (origin, channels) => inner.unfollow(origin, channels),
    publish,
    subscribe: (origin, listener) => inner.subscribe(origin, listener),
    close: () => inner.close(),
    on: (event, listener) => {
      inner.on(event, listener)
      return inner
    },
    off: (event, listener) => {
      inner.off(event, listener)
      return inner
    },
    once: (event, listener) => {
      inner.once(event, listener)
      return inner
    },
  }
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
 * sending after it, and can write any bytes. Destroyed after the test.
 */
export async function rawSocket(url: string): Promise<RawSocket> {
  const { hostname, port } = new URL(url)
  const socket = scope.add(createConnection(Number(port), hostname), (s) => s.destroy())
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
