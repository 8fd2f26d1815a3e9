import type { Socket } from 'node:net'
import * as ws from 'ws'
import WebSocket from 'ws'

/** The parts of ws's internals the fast path relies on (ws 8: lib/websocket.js, lib/sender.js). */
interface WebSocketInternals {
  _socket?: Socket
  _sender?: { _state: number; _queue: unknown[] }
}

/** ws's `Sender` state when nothing is being compressed or waited on: a write may go straight to the socket. */
const SENDER_IDLE = 0

const TEXT_FRAME = { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false } as const

/** What `FrameWriter.write` did with a frame. */
export const Written = {
  /** Written (or queued in ws's sender, in order). */
  Yes: 0,
  /** Written, and the socket's send buffer now holds more than `TRACKED_BUFFER_BYTES`: the caller accounts for it. */
  Buffering: 1,
  /** Not written: the socket is not open, or it holds more than `maxBufferedAmount` (its client does not read). */
  No: 2,
} as const
export type Written = (typeof Written)[keyof typeof Written]

/**
 * Above this many bytes waiting, a socket's send buffer counts toward the server-wide bound (`send-buffers.ts`).
 * At least Node's default stream high-water mark (16 KiB on Node 20, 64 KiB on 22), so that a socket above it has
 * `drain` coming when its buffer empties.
 */
export const TRACKED_BUFFER_BYTES = 64 * 1024

/** The socket's stream (ws's `_socket`); undefined before ws set it up or once ws let it go. */
export function streamOf(socket: WebSocket): Socket | undefined {
  return (socket as unknown as WebSocketInternals)._socket
}

/**
 * Node's `setImmediate`, as it was when this module loaded: fake timers an application installs in its tests
 * later must not hold frames back.
 */
const endOfTurn = globalThis.setImmediate

/** What one event-loop turn wrote: the streams it corked, and each frame string's WebSocket frame. */
interface Turn {
  readonly corked: Set<Socket>
  readonly framed: Map<string, Buffer>
}

/** ws exports its frame builder (`Sender.frame`), though @types/ws does not declare it. */
const { Sender } = ws as unknown as { Sender: { frame(data: Buffer, options: typeof TEXT_FRAME): Buffer[] } }

/**
 * Writes frames so that a message is framed once however many sockets get it, and everything written to one
 * socket within an event-loop turn leaves in as few TCP segments as possible.
 *
 * - Framing: the first write of a frame string in a turn builds its WebSocket frame (header + UTF-8 payload)
 *   once; every other socket given the same string in that turn gets the same buffer. `ws.send` would convert
 *   and frame the string again for each socket.
 * - Corking: the first write of an event-loop turn corks the socket's stream; one `setImmediate` per turn (run
 *   after the turn's I/O callbacks) uncorks every corked stream and drops the turn's frames. What reaches a
 *   socket in one turn leaves in one write (a system call), however many reads brought it: the Redis
 *   subscriber's pub/sub messages and the store's replies to local publications arrive in reads of their own.
 *   One writer serves a whole server: no per-socket scheduling.
 *
 * The direct write is only taken while ws's sender is idle (the server never compresses, so it always is);
 * otherwise the frame goes through `ws.send`, which queues it in order.
 *
 * A turn's corked streams and frames live in collections made by its first write and dropped by its flush, not in
 * long-lived ones emptied with `clear()`: V8's `clear()` leaves the old hash table pointing at its replacement,
 * and a minor GC keeps alive whatever an old-generation object points at, dead or not. Once one table had been
 * promoted, every later turn's table, with its frame strings and buffers, survived the minor GCs chained behind
 * it until the next full GC: measured under request load, 0.6 MB copied and promoted by every minor GC, pauses
 * three times as long, and a full GC every few hundred milliseconds.
 */
export class FrameWriter {
  /** The turn under way: made by its first write, dropped by `flush` at its end. */
  private turn: Turn | undefined
  private readonly flush = (): void => {
    const { corked } = this.turn!
    this.turn = undefined
    for (const stream of corked) stream.uncork()
  }

  constructor(
    /** Bytes a socket may hold waiting before nothing more is written to it. */
    readonly maxBufferedAmount: number,
    /** Counts frames and bytes written (`messagesOut`, `bytesOut`). */
    private readonly stats: { messagesOut: number; bytesOut: number },
  ) {}

  /**
   * Writes one text frame. Returns `Written.No` when the frame was not written: the socket is not open, or its
   * client does not keep up (more than `maxBufferedAmount` bytes waiting): the caller then closes the socket;
   * `Written.Buffering` when it was written to a socket holding more than `TRACKED_BUFFER_BYTES`.
   */
  write(socket: WebSocket, data: string): Written {
    if (socket.readyState !== WebSocket.OPEN) return Written.No
    const { _socket: stream, _sender: sender } = socket as unknown as WebSocketInternals
    if (stream === undefined || sender === undefined) {
      this.count(data)
      socket.send(data)
      return Written.Yes
    }
    let turn = this.turn
    if (turn === undefined) {
      turn = this.turn = { corked: new Set(), framed: new Map() }
      endOfTurn(this.flush)
    }
    if (!turn.corked.has(stream)) {
      stream.cork()
      turn.corked.add(stream)
    }
    const buffered = socket.bufferedAmount
    if (buffered > this.maxBufferedAmount) return Written.No
    if (sender._state !== SENDER_IDLE || sender._queue.length > 0) {
      this.count(data)
      socket.send(data)
      return buffered > TRACKED_BUFFER_BYTES ? Written.Buffering : Written.Yes
    }
    let frame = turn.framed.get(data)
    if (frame === undefined) {
      frame = Buffer.concat(Sender.frame(Buffer.from(data), TEXT_FRAME))
      turn.framed.set(data, frame)
    }
    this.stats.messagesOut++
    this.stats.bytesOut += frame.length
    stream.write(frame)
    return buffered + frame.length > TRACKED_BUFFER_BYTES ? Written.Buffering : Written.Yes
  }

  /** Counts a frame that goes through `ws.send` (rare: no direct write possible). */
  private count(data: string): void {
    this.stats.messagesOut++
    this.stats.bytesOut += Buffer.byteLength(data)
  }
}
