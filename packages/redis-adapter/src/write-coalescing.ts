import { Redis } from 'ioredis'
import type { RedisClient } from './connection.js'

/**
 * Commands sent on one connection within one tick leave in one socket write. ioredis writes each command on
 * its own (a syscall each), and a busy server sends many per tick: the store's append and the PUBLISH of every
 * publication of a batch. The socket is corked at the first command and uncorked by a microtask queued then,
 * which runs once the commands sent by the continuations already queued are written (a batch of publications
 * reaches Redis at the same depth of their promise chains): the same bytes in the same order, in fewer writes,
 * and nothing else about a command changes (its reply, error and timeout are its own). A microtask, not a timer,
 * as `FrameWriter` does for WebSockets: fake timers in an application's tests do not hold commands back.
 * Standalone (and Sentinel) clients only: a Cluster writes to one socket per node, which are left as they are.
 */
export class WriteCoalescing {
  private corked = false

  constructor(private readonly client: RedisClient) {}

  /** Call before sending a command: its write waits for the others of its tick. */
  hold(): void {
    // Not ready: ioredis queues the command rather than writing it.
    if (this.corked || !(this.client instanceof Redis) || this.client.status !== 'ready') return
    const { stream } = this.client
    stream.cork()
    this.corked = true
    queueMicrotask(() => {
      this.corked = false
      stream.uncork()
    })
  }
}
