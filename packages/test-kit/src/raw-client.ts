import type { Frame, ResumePositions, StreamPosition } from '@mesa/core'
import type { Socket } from 'node:net'
import WebSocket from 'ws'
import { withTimeout } from './wait.js'

/** A frame as the tests see it (parsed JSON): the wire shape of core's `Frame`. */
export type WireFrame = Frame

/** The `d.n` of each frame: the numbers tests (and the fixtures' senders) count their messages with. */
export function numbersOf(frames: readonly WireFrame[]): number[] {
  return frames.map((frame) => frame.d.n as number)
}

export type Position = StreamPosition
export type Positions = ResumePositions

export interface RawClientOptions {
  /** Offer the `mesa.v2` subprotocol (resume, live sequence numbers). Default false: a 1.x client. */
  v2?: boolean
  /** How long `connect` waits for the hello. Default 10 s. */
  timeoutMs?: number
  /** Positions to start from (a reconnecting client carries them over). Default none. */
  positions?: Positions
  /** Called for every message the application would see, besides collecting it in `delivered`. */
  onDeliver?: (frame: WireFrame) => void
  /** Answer heartbeats (op 1) with op 11. Default true; false plays a client that stopped acking. */
  autoAck?: boolean
  /** Extra headers of the upgrade request (`Origin`, credentials). Default none. */
  headers?: Record<string, string>
}

/**
 * A Mesa client written against the wire protocol with nothing but `ws`, so tests check the server's frames
 * rather than a client library's interpretation of them. `frames` and `messages` are what the server sent,
 * as it sent them. Answers heartbeats (unless `autoAck` is off); as a v2 client it keeps its positions per
 * stream and delivers a sequenced message only when it is past that position, as the protocol prescribes:
 * `delivered` is what an application would see.
 */
export class RawClient {
  readonly url: string
  readonly v2: boolean
  /** The socket itself, for what the protocol does not do (binary frames, pausing the TCP socket). */
  readonly ws: WebSocket
  /** Every frame received, in order. */
  readonly frames: WireFrame[] = []
  /** op 0 frames the application would see: duplicates (s at or below the position) dropped on v2. */
  readonly delivered: WireFrame[] = []
  positions: Positions = {}
  /** Position per channel: op 31's (see `channel-client.ts`), then the `s` of each publication delivered. */
  readonly channelPositions = new Map<string, Position>()
  /** Answer op 1 with op 11; set false to play a client that stopped acking. */
  autoAck: boolean
  closeCode: number | undefined
  closeReason: string | undefined
  readonly closed: Promise<{ code: number; reason: string }>
  private readonly onDeliver: ((frame: WireFrame) => void) | undefined
  private readonly waiters = new Set<() => void>()

  private constructor(url: string, options: RawClientOptions) {
    this.url = url
    this.v2 = options.v2 ?? false
    this.positions = { ...options.positions }
    this.onDeliver = options.onDeliver
    this.autoAck = options.autoAck ?? true
    this.ws = new WebSocket(url, this.v2 ? ['mesa.v2'] : [], { headers: options.headers })
    this.ws.on('error', () => {})
    this.ws.on('message', (data, isBinary) => {
      if (!isBinary) this.receive(String(data))
    })
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
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
      await client.waitFor('hello', () => client.frames.some((f) => f.op === 10), options.timeoutMs)
    } catch (error) {
      client.terminate()
      throw error
    }
    return client
  }

  /** The hello (op 10) the server opened with. */
  get hello(): WireFrame {
    const hello = this.frames.find((f) => f.op === 10)
    if (!hello) throw new Error(`no hello from ${this.url} yet`)
    return hello
  }

  /** Every op 0 frame received, in order, duplicates included. */
  get messages(): WireFrame[] {
    return this.frames.filter((f) => f.op === 0)
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN
  }

  /** The subprotocol the server accepted ('' for a 1.x connection). */
  get protocol(): string {
    return this.ws.protocol
  }

  /** Sends a frame (serialized as JSON) or a string as it is; nothing once the socket is no longer open. */
  send(frame: object | string): void {
    if (this.isOpen) this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /**
   * Sends op 2 and waits for op 22. A v2 client resumes from `resume` (default: its own positions, if any);
   * then it adopts the heads when nothing was asked or the server could not recover.
   */
  async authenticate(
    data: Record<string, unknown>,
    options: { resume?: Positions; shouldSync?: boolean; timeoutMs?: number; extensions?: Record<string, unknown> } = {},
  ): Promise<WireFrame> {
    const frame: WireFrame = { op: 2, d: { ...data } }
    if (options.shouldSync !== undefined) frame.d.shouldSync = options.shouldSync
    const resume = options.resume ?? this.positions
    if (this.v2 && (resume.user || resume.global)) {
      this.positions = { ...resume }
      frame.x = { resume }
    }
    // Other v2 fields of op 2 (`ch`: channels to resubscribe to).
    if (options.extensions !== undefined) frame.x = { ...frame.x, ...options.extensions }
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

  /** Waits until `count` op 0 frames of `type` (any type when omitted) arrived, duplicates included. */
  waitForMessages(count: number, type?: string, timeoutMs?: number): Promise<WireFrame[]> {
    return this.waitForCount(() => this.messages, 'messages', count, type, timeoutMs)
  }

  /** Waits until the application has seen `count` messages of `type` (any type when omitted). */
  waitForDelivered(count: number, type?: string, timeoutMs?: number): Promise<WireFrame[]> {
    return this.waitForCount(() => this.delivered, 'delivered messages', count, type, timeoutMs)
  }

  /** Resolves with the close code and reason once the socket closed. */
  waitClose(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    return withTimeout(`close of ${this.url}`, this.closed, timeoutMs)
  }

  messagesOf(type: string): WireFrame[] {
    return this.delivered.filter((f) => f.t === type)
  }

  close(code = 1000): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) {
      this.ws.close(code)
    }
    return this.closed
  }

  terminate(): void {
    this.ws.terminate()
  }

  /**
   * Stops reading the TCP socket (`ws`'s `_socket`, which it does not type): what the server sends piles up in
   * TCP's buffers, then in the server's, as with a client that hangs or is on a slow link.
   */
  pauseReading(): void {
    this.tcp().pause()
  }

  /** Reads the TCP socket again after `pauseReading()`. */
  resumeReading(): void {
    this.tcp().resume()
  }

  private tcp(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket
  }

  private async waitForCount(
    list: () => WireFrame[],
    what: string,
    count: number,
    type: string | undefined,
    timeoutMs: number | undefined,
  ): Promise<WireFrame[]> {
    const matching = () => list().filter((f) => type === undefined || f.t === type)
    await this.waitFor(`${count} ${what}${type ? ` of type ${type}` : ''}`, () => matching().length >= count, timeoutMs)
    return matching()
  }

  private receive(raw: string): void {
    let frame: WireFrame
    try {
      frame = JSON.parse(raw) as WireFrame
    } catch {
      throw new Error(`the server sent a frame that is not JSON: ${raw}`)
    }
    this.frames.push(frame)
    if (frame.op === 1 && this.autoAck) this.send({ op: 11, d: {} })
    if (frame.op === 22 && this.v2) this.adoptHeads(frame)
    if (frame.op === 31) this.adoptChannelHead(frame)
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

  /** op 31: keep the channel position the client asked to resume from when recovered, else take the head. */
  private adoptChannelHead(subscribed: WireFrame): void {
    const x = subscribed.x as { pos?: Position; recovered?: boolean } | undefined
    const channel = subscribed.t ?? ''
    const mine = this.channelPositions.get(channel)
    if (x?.recovered && mine && x.pos && mine.epoch === x.pos.epoch) return
    if (x?.pos) this.channelPositions.set(channel, { ...x.pos })
    else this.channelPositions.delete(channel)
  }

  private deliver(frame: WireFrame): void {
    const channel = frame.x?.ch
    if (typeof channel === 'string') {
      // A publication: positions per channel, as in the user and global streams.
      const position = this.channelPositions.get(channel)
      if (frame.s !== undefined) {
        if (position && frame.s <= position.seq) return
        this.channelPositions.set(channel, { epoch: position?.epoch ?? '', seq: frame.s })
      }
    } else if (this.v2 && frame.s !== undefined) {
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
