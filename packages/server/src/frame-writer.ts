import WebSocket from 'ws'

interface Corkable {
  cork(): void
  uncork(): void
}

/**
 * Writes frames so that everything written to one socket within a tick leaves in as few TCP segments as
 * possible: the first write of a tick corks the socket's stream, one microtask per tick uncorks every
 * stream that was corked. One batcher serves a whole server, so there is no per-socket scheduling.
 */
export class FrameWriter {
  private readonly corked = new Set<Corkable>()
  private scheduled = false
  private readonly flush = (): void => {
    this.scheduled = false
    for (const stream of this.corked) stream.uncork()
    this.corked.clear()
  }

  constructor(private readonly maxBufferedAmount: number) {}

  /**
   * Writes one text frame. Returns false when the frame was not written: the socket is not open, or its
   * client does not keep up (more than `maxBufferedAmount` bytes waiting): the caller then cuts the socket.
   */
  write(ws: WebSocket, data: string): boolean {
    if (ws.readyState !== WebSocket.OPEN) return false
    // `_socket` is ws's underlying net.Socket; corking it batches ws's frame writes.
    const stream = (ws as unknown as { _socket?: Corkable })._socket
    if (stream && !this.corked.has(stream)) {
      stream.cork()
      this.corked.add(stream)
      if (!this.scheduled) {
        this.scheduled = true
        queueMicrotask(this.flush)
      }
    }
    if (ws.bufferedAmount > this.maxBufferedAmount) return false
    ws.send(data)
    return true
  }
}
