import type { Frame, ResumePositions, StreamPosition } from '@mesa/core'
import WebSocket from 'ws'
import { withTimeout } from './wait.js'

/** A frame as the tests see it (parsed JSON): the wire shape of core's `Frame`. */
export type WireFrame = Frame

export type Position = StreamPosition
export type Positions = ResumePositions

export interface RawClientOptions {
  /** Offer the `mesa.v2` subprotocol (resume, live sequence numbers). Default false: a 1.x client. */
  v2?: boolean
  timeoutMs?: number
  /** Positions to start from (a reconnecting client carries them over). Default none. */
  positions?: Positions
  /** Called for every message the application would see, besides collecting it in `delivered`. */
  onDeliver?: (frame: WireFrame) => void
}

/**
 * A Mesa client written against the wire protocol with nothing but `ws`, so tests check the server's frames
 * rather than a client library's interpretation of them. Answers heartbeats; as a v2 client it keeps its
 * positions per stream and delivers a sequenced message only when it is past that position, as the
 * protocol prescribes.
 */
export class RawClient {
  readonly url: string
  readonly v2: boolean
  /** Every frame received, in order. */
  readonly frames: WireFrame[] = []
  /** op 0 frames the application would see: duplicates (s at or below the position) dropped on v2. */
  readonly delivered: WireFrame[] = []
  positions: Positions = {}
  hello: WireFrame | undefined
  closeCode: number | undefined
  closeReason: string | undefined
  private readonly socket: WebSocket
  private readonly onDeliver: ((frame: WireFrame) => void) | undefined
  private readonly waiters = new Set<() => void>()
  readonly closed: Promise<{ code: number; reason: string }>

  private constructor(url: string, options: RawClientOptions) {
    this.url = url
    this.v2 = options.v2 ?? false
    this.positions = { ...options.positions }
    this.onDeliver = options.onDeliver
    this.socket = this.v2 ? new WebSocket(url, ['mesa.v2']) : new WebSocket(url)
    this.socket.on('error', () => {})
    this.socket.on('message', (data) => this.receive(String(data)))
    this.closed = new Promise((resolve) => {
      this.socket.once('close', (code, reason) => {
        this.closeCode = code
        this.closeReason = reason.toString()
        this.notify()
        resolve({ code, reason: this.closeReason })
      })
    })
  }

  /** Connects and waits for hello (op 10). */
  static async connect(url: string, options: RawClientOptions = {}): Promise<RawClient> {
    const client = new RawClient(url, options)
    try {
      await client.waitFor('hello', () => client.hello !== undefined, options.timeoutMs)
    } catch (error) {
      client.terminate()
      throw error
    }
    return client
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN
  }

  /** The subprotocol the server accepted ('' for a 1.x connection). */
  get protocol(): string {
    return this.socket.protocol
  }

  send(frame: WireFrame | string): void {
    if (this.isOpen) this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /**
   * Sends op 2 and waits for op 22. A v2 client resumes from `resume` (default: its own positions, if any);
   * then it adopts the heads when nothing was asked or the server could not recover.
   */
  async authenticate(
    data: Record<string, unknown>,
    options: { resume?: Positions; shouldSync?: boolean; timeoutMs?: number } = {},
  ): Promise<WireFrame> {
    const frame: WireFrame = { op: 2, d: { ...data } }
    if (options.shouldSync !== undefined) frame.d.shouldSync = options.shouldSync
    const resume = options.resume ?? this.positions
    if (this.v2 && (resume.user || resume.global)) {
      this.positions = { ...resume }
      frame.x = { resume }
    }
    const before = this.frames.length
    this.send(frame)
    let ack: WireFrame | undefined
    await this.waitFor(
      'op 22',
      () => {
        ack = this.frames.slice(before).find((f) => f.op === 22)
        return ack !== undefined || this.closeCode !== undefined
      },
      options.timeoutMs,
    )
    if (!ack) throw new Error(`closed before authentication (${this.closeCode} ${this.closeReason})`)
    return ack
  }

  /** Sends an application message (op 0). */
  dispatch(type: string, data: Record<string, unknown>): void {
    this.send({ op: 0, d: data, t: type })
  }

  /** Waits until `check` holds; re-checked on every frame and on close. */
  waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
    if (check()) return Promise.resolve()
    let waiter: () => void = () => {}
    const done = new Promise<void>((resolve) => {
      waiter = () => {
        if (check()) resolve()
      }
      this.waiters.add(waiter)
    })
    return withTimeout(`${what} on ${this.url}`, done, timeoutMs).finally(() => this.waiters.delete(waiter))
  }

  /** Waits until the application has seen `count` messages of `type` (any type when omitted). */
  async waitForMessages(count: number, type?: string, timeoutMs?: number): Promise<WireFrame[]> {
    const matching = () => this.delivered.filter((f) => type === undefined || f.t === type)
    await this.waitFor(
      `${count} messages${type ? ` of type ${type}` : ''}`,
      () => matching().length >= count,
      timeoutMs,
    )
    return matching()
  }

  messagesOf(type: string): WireFrame[] {
    return this.delivered.filter((f) => f.t === type)
  }

  close(code = 1000): Promise<{ code: number; reason: string }> {
    if (this.socket.readyState === WebSocket.CONNECTING || this.socket.readyState === WebSocket.OPEN) {
      this.socket.close(code)
    }
    return this.closed
  }

  terminate(): void {
    this.socket.terminate()
  }

  private receive(raw: string): void {
    let frame: WireFrame
    try {
      frame = JSON.parse(raw) as WireFrame
    } catch {
      throw new Error(`the server sent a frame that is not JSON: ${raw}`)
    }
    this.frames.push(frame)
    if (frame.op === 10 && !this.hello) this.hello = frame
    if (frame.op === 1) this.send({ op: 11, d: {} })
    if (frame.op === 22 && this.v2) this.adoptHeads(frame)
    if (frame.op === 0) this.deliver(frame)
    this.notify()
  }

  private adoptHeads(ack: WireFrame): void {
    const x = ack.x as { streams?: Positions; recovered?: boolean } | undefined
    const streams = x?.streams ?? {}
    for (const kind of ['user', 'global'] as const) {
      const head = streams[kind]
      if (!head) continue
      const mine = this.positions[kind]
      // Keep our position when it is from the same history and the server will replay after it.
      if (x?.recovered && mine && mine.epoch === head.epoch) continue
      this.positions[kind] = { ...head }
    }
  }

  private deliver(frame: WireFrame): void {
    if (this.v2 && frame.s !== undefined) {
      const kind = (frame.x as { st?: string } | undefined)?.st === 'g' ? 'global' : 'user'
      const position = this.positions[kind]
      if (position && frame.s <= position.seq) return
      this.positions[kind] = { epoch: position?.epoch ?? '', seq: frame.s }
    }
    this.delivered.push(frame)
    this.onDeliver?.(frame)
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter()
  }
}
