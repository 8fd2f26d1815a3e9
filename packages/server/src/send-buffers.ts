import { CloseCode } from '@mesa/core'
import type WebSocket from 'ws'
import { ServerError } from './errors.js'
import { streamOf } from './frame-writer.js'
import type { MesaStats } from './stats.js'

/** What the bound needs of a socket (a `Connection`): its `ws`, and to report and close it. */
export interface BufferedSocket {
  readonly ws: WebSocket
  report(error: Error): void
  close(code: number, reason: string): void
}

/**
 * The server-wide bound on bytes waiting in sockets' send buffers (`limits.maxBufferedBytes`): past it, the
 * sockets holding the most are closed with `CloseCode.TryAgainLater` (1013) until the total is under the bound.
 *
 * O(1) per write: only sockets holding more than `TRACKED_BUFFER_BYTES` (64 KiB, `frame-writer.ts`) are counted (the frame writer says so,
 * from the amount it reads anyway), their amount refreshed on each write to them and dropped when their buffer
 * drains (`drain`), when the server closes them (nothing more is written; the close timeout frees the rest) or
 * when they close. A reading client's buffer empties within a tick, so the sockets counted are the ones that hold
 * memory; the ones below the threshold hold at most that much each. Only when the bound is passed are the
 * counted sockets sorted, to close the biggest first.
 */
export class SendBuffers {
  /** Bytes each counted socket held when last seen. */
  private readonly held = new Map<BufferedSocket, number>()
  private total = 0

  constructor(
    private readonly maxBytes: number,
    private readonly stats: MesaStats,
  ) {}

  /** Bytes waiting in the counted sockets, as last seen. */
  get bytes(): number {
    return this.total
  }

  /** A frame was written to a socket holding more than the threshold. */
  grew(connection: BufferedSocket): void {
    const stream = streamOf(connection.ws)
    const before = this.held.get(connection)
    if (before === undefined) {
      // A socket under Node's high-water mark gets no `drain`; it holds little, so it is not counted.
      if (stream === undefined || !stream.writableNeedDrain) return
      stream.once('drain', () => this.forget(connection))
    }
    const amount = connection.ws.bufferedAmount
    this.held.set(connection, amount)
    this.total += amount - (before ?? 0)
    if (this.total > this.maxBytes) this.shed()
  }

  /** The socket no longer counts: its buffer drained, or it is closing or closed. */
  forget(connection: BufferedSocket): void {
    const before = this.held.get(connection)
    if (before === undefined) return
    this.held.delete(connection)
    this.total -= before
  }

  private shed(): void {
    const biggestFirst = [...this.held].sort((a, b) => b[1] - a[1])
    for (const [connection, amount] of biggestFirst) {
      if (this.total <= this.maxBytes) return
      this.stats.slowConsumerCuts++
      connection.report(
        new ServerError(
          'overloaded',
          `${this.total} bytes waited to be sent, more than limits.maxBufferedBytes (${this.maxBytes}); the socket holding the most (${amount}) was closed`,
        ),
      )
      this.forget(connection)
      connection.close(CloseCode.TryAgainLater, 'server overloaded, try again later')
    }
  }
}
