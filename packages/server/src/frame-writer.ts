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

/** ws exports its frame builder (`Sender.frame`), though @types/ws does not declare it. */
const { Sender } = ws as unknown as { Sender: { frame(data: Buffer, options: typeof TEXT_FRAME): Buffer[] } }

/**
 * Writes frames so that a message is framed once however many sockets get it, and everything written to one
 * socket within a tick leaves in as few TCP segments as possible.
 *
 * - Framing: the first write of a frame string in a tick builds its WebSocket frame (header + UTF-8 payload)
 *   once; every other socket given the same string in that tick gets the same buffer. `ws.send` would convert
 *   and frame the string again for each socket.
 * - Corking: the first write of a tick corks the socket's stream; one microtask per tick uncorks every corked
 *   stream and drops the tick's frames. One writer serves a whole server: no per-socket scheduling.
 *
 * The direct write is only taken while ws's sender is idle (the server never compresses, so it always is);
 * otherwise the frame goes through `ws.send`, which queues it in order.
 */
export class FrameWriter {
  private readonly corked = new Set<Socket>()
  private readonly framed = new Map<string, Buffer>()
  private scheduled = false
  private readonly flush = (): void => {
    this.scheduled = false
    for (const stream of this.corked) stream.uncork()
    this.corked.clear()
    this.framed.clear()
  }

  constructor(
    private readonly maxBufferedAmount: number,
    /** Counts frames and bytes written (`messagesOut`, `bytesOut`). */
    private readonly stats: { messagesOut: number; bytesOut: number },
  ) {}

  /**
   * Writes one text frame. Returns false when the frame was not written: the socket is not open, or its
   * client does not keep up (more than `maxBufferedAmount` bytes waiting): the caller then cuts the socket.
   */
  write(socket: WebSocket, data: string): boolean {
    if (socket.readyState !== WebSocket.OPEN) return false
    const { _socket: stream, _sender: sender } = socket as unknown as WebSocketInternals
    if (stream === undefined || sender === undefined) {
      this.count(data)
      socket.send(data)
      return true
    }
    if (!this.corked.has(stream)) {
      stream.cork()
      this.corked.add(stream)
      if (!this.scheduled) {
        this.scheduled = true
        queueMicrotask(this.flush)
      }
    }
    if (socket.bufferedAmount > this.maxBufferedAmount) return false
    if (sender._state !== SENDER_IDLE || sender._queue.length > 0) {
      this.count(data)
      socket.send(data)
      return true
    }
    let frame = this.framed.get(data)
    if (frame === undefined) {
      frame = Buffer.concat(Sender.frame(Buffer.from(data), TEXT_FRAME))
      this.framed.set(data, frame)
    }
    this.stats.messagesOut++
    this.stats.bytesOut += frame.length
    stream.write(frame)
    return true
  }

  /** Counts a frame that goes through `ws.send` (rare: no direct write possible). */
  private count(data: string): void {
    this.stats.messagesOut++
    this.stats.bytesOut += Buffer.byteLength(data)
  }
}
