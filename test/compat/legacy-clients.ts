import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Client1x from '@cryb/mesa/lib/client'
import Message1x from '@cryb/mesa/lib/server/message'
import WebSocket from 'ws'
import { type Scope, type WireFrame, waitFor, withTimeout } from '@mesa/test-kit'
import { parseWire } from './support.js'

/** What a 1.x client handed its application, normalised across both 1.x clients. */
export interface Delivered {
  opcode: number
  data: Record<string, unknown>
  type?: string
  sequence?: number
}

export interface Closed {
  code: number
  reason: string
}

/** What both 1.x clients look like to the tests. */
export interface LegacyClient {
  /** Every frame the server sent, parsed from the raw text before the 1.x client saw it. */
  readonly frames: WireFrame[]
  /** op 0 messages (and any other opcode 1.x passes to the application) in arrival order. */
  readonly delivered: Delivered[]
  readonly closes: Closed[]
  readonly rules: string[]
  connect(): Promise<void>
  authenticate(data: Record<string, unknown>, options?: { shouldSync?: boolean }): Promise<unknown>
  /** Sends op 2 without waiting for an answer (one that is refused never gets one in 1.x). */
  requestAuthentication(data: Record<string, unknown>): void
  send(type: string, data: Record<string, unknown>, options?: { sync: boolean }): void
  /** Closes with 1000 and waits for the close (no 1.x reconnect timer is left behind). */
  close(): Promise<void>
  readonly open: boolean
}

/** The parts of `@cryb/mesa`'s Client the types mark private but a test needs: raw frames and the socket. */
interface CrybInternals {
  registerMessage(data: unknown): void
  ws: { readyState: number } | null
  rules: string[]
  reconnectionInterval?: ReturnType<typeof setInterval>
}

/** `@cryb/mesa@1.5.8`'s `Client` (Node, ws 7), unchanged, with its raw frames recorded. */
export class CrybClient implements LegacyClient {
  readonly client: Client1x
  readonly frames: WireFrame[] = []
  readonly delivered: Delivered[] = []
  readonly closes: Closed[] = []

  constructor(scope: Scope, url: string) {
    this.client = new Client1x(url, { autoConnect: false })
    const internals = this.client as unknown as CrybInternals
    const registerMessage = internals.registerMessage.bind(this.client)
    // The 1.x client reads every frame through this method (looked up at call time by its socket listener).
    internals.registerMessage = (data: unknown) => {
      this.frames.push(parseWire(data))
      registerMessage(data)
    }
    this.client.on('message', (message: Message1x) =>
      this.delivered.push({
        opcode: message.opcode,
        data: message.data as Record<string, unknown>,
        type: message.type,
        sequence: message.sequence,
      }),
    )
    this.client.on('disconnected', (code: number, reason: string) => this.closes.push({ code, reason }))
    this.client.on('error', () => {})
    scope.defer(() => this.close())
  }

  get rules(): string[] {
    return (this.client as unknown as CrybInternals).rules
  }

  get open(): boolean {
    return (this.client as unknown as CrybInternals).ws?.readyState === WebSocket.OPEN
  }

  async connect(): Promise<void> {
    await withTimeout('the 1.x client to connect', this.client.connect())
  }

  authenticate(data: Record<string, unknown>, options?: { shouldSync?: boolean }): Promise<unknown> {
    return withTimeout('the 1.x authentication', this.client.authenticate(data, options))
  }

  requestAuthentication(data: Record<string, unknown>): void {
    void this.client.authenticate(data)
  }

  send(type: string, data: Record<string, unknown>, options?: { sync: boolean }): void {
    this.client.send(new Message1x(0, data, type, options))
  }

  async close(): Promise<void> {
    const internals = this.client as unknown as CrybInternals
    const closes = this.closes.length
    const wasOpen = this.open
    if (internals.ws) this.client.disconnect(1000)
    if (wasOpen) await waitFor('the 1.x client to close', () => this.closes.length > closes)
    // 1.5.8 starts its reconnect interval on any close when the hello announced one, even after disconnect().
    if (internals.reconnectionInterval) clearInterval(internals.reconnectionInterval)
  }
}

/** The slice of `mesa-js-client@1.4.8`'s class the tests use (its own typings pull in isomorphic-ws). */
interface JsClientInstance {
  ws: { readyState: number } | null
  authenticated: boolean
  onMessage?: (message: Delivered) => void
  onDisconnected?: (code: number, reason: string, options: { willAttemptReconnect: boolean }) => void
  onError?: (error: Error) => void
  connect(): Promise<unknown>
  send(opcode: number, data: Record<string, unknown>, type?: string): void
  authenticate(data: object, config?: { shouldSync?: boolean }): Promise<unknown>
  disconnect(code?: number, data?: string): void
}

interface JsClientInternals {
  registerMessage(event: { data: unknown }): void
  rules: string[]
  reconnectionIntervalId?: ReturnType<typeof setInterval>
}

type JsClientClass = new (url: string, config?: { autoConnect?: boolean }) => JsClientInstance

let jsClientClass: JsClientClass | undefined

/**
 * `mesa-js-client` takes the global `WebSocket` when its module is evaluated; Node 20 has none, so `ws`'s is
 * lent to it for the import (the module keeps its reference) and the global is put back as it was.
 */
export async function loadJsClient(): Promise<JsClientClass> {
  if (jsClientClass) return jsClientClass
  const g = globalThis as { WebSocket?: unknown }
  const had = Object.hasOwn(g, 'WebSocket')
  const previous = g.WebSocket
  g.WebSocket = (await import('ws')).WebSocket
  try {
    const module = (await import('mesa-js-client')) as unknown as { default: JsClientClass }
    jsClientClass = module.default
  } finally {
    if (had) g.WebSocket = previous
    else delete g.WebSocket
  }
  return jsClientClass
}

/** `mesa-js-client@1.4.8` (the browser/isomorphic 1.x client) in Node, with its raw frames recorded. */
export class JsClient implements LegacyClient {
  readonly client: JsClientInstance
  readonly frames: WireFrame[] = []
  readonly delivered: Delivered[] = []
  readonly closes: Closed[] = []

  constructor(scope: Scope, Client: JsClientClass, url: string) {
    this.client = new Client(url, { autoConnect: false })
    const internals = this.client as unknown as JsClientInternals
    const registerMessage = internals.registerMessage.bind(this.client)
    internals.registerMessage = (event: { data: unknown }) => {
      this.frames.push(parseWire(event.data))
      registerMessage(event)
    }
    this.client.onMessage = (message) => this.delivered.push({ ...message })
    this.client.onDisconnected = (code, reason) => this.closes.push({ code, reason })
    this.client.onError = () => {}
    scope.defer(() => this.close())
  }

  get rules(): string[] {
    return (this.client as unknown as JsClientInternals).rules
  }

  get open(): boolean {
    return this.client.ws?.readyState === WebSocket.OPEN
  }

  async connect(): Promise<void> {
    await withTimeout('mesa-js-client to connect', this.client.connect())
  }

  authenticate(data: Record<string, unknown>, options?: { shouldSync?: boolean }): Promise<unknown> {
    return withTimeout('the mesa-js-client authentication', this.client.authenticate(data, options))
  }

  requestAuthentication(data: Record<string, unknown>): void {
    void this.client.authenticate(data)
  }

  send(type: string, data: Record<string, unknown>): void {
    this.client.send(0, data, type)
  }

  async close(): Promise<void> {
    const closes = this.closes.length
    const wasOpen = this.open
    if (this.client.ws) this.client.disconnect(1000)
    if (wasOpen) await waitFor('mesa-js-client to close', () => this.closes.length > closes)
    const internals = this.client as unknown as JsClientInternals
    if (internals.reconnectionIntervalId) clearInterval(internals.reconnectionIntervalId)
  }
}

/** One of the two 1.x clients, as the shared scenarios drive it. */
export interface LegacyKind {
  name: string
  create(scope: Scope, url: string): Promise<LegacyClient>
  /** The version the client reports under the `enforce_equal_versions` rule. */
  version: string
  /** Runs `task` (which must connect and wait for the hello to be read) where the client can read its version. */
  reportingVersion<T>(task: () => Promise<T>): Promise<T>
}

export const crybMesa: LegacyKind = {
  name: '@cryb/mesa 1.5.8 Client',
  create: async (scope, url) => new CrybClient(scope, url),
  version: '1.5.8',
  async reportingVersion<T>(task: () => Promise<T>): Promise<T> {
    // 1.5.8 reads its version from `../../package.json` relative to the working directory when a hello has
    // the rule, and throws out of the socket listener when there is none: give it the layout it expects.
    const root = await mkdtemp(join(tmpdir(), 'mesa-compat-'))
    const cwd = join(root, 'app', 'server')
    await mkdir(cwd, { recursive: true })
    await writeFile(join(root, 'package.json'), JSON.stringify({ name: 'legacy-app', version: crybMesa.version }))
    const previous = process.cwd()
    process.chdir(cwd)
    try {
      return await task()
    } finally {
      process.chdir(previous)
      await rm(root, { recursive: true, force: true })
    }
  },
}

export const mesaJsClient: LegacyKind = {
  name: 'mesa-js-client 1.4.8',
  create: async (scope, url) => new JsClient(scope, await loadJsClient(), url),
  // Hard-coded in its bundle.
  version: '1.5.3',
  reportingVersion: (task) => task(),
}
