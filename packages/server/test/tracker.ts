import { MemoryAdapter } from '@mesa/core/server'
import { numbersOf, type Positions, type RawClient, type WireFrame } from '@mesa/test-kit'
import type { Mesa, MesaOptions } from '../src/index.js'
import { connect, startServer } from './helpers.js'

/** A synced server that authenticates `{ id }` as user `id`. */
export async function syncServer(options: MesaOptions = {}): Promise<{ mesa: Mesa; url: string; adapter: MemoryAdapter }> {
  const adapter = (options.adapter as MemoryAdapter | undefined) ?? new MemoryAdapter()
  const { mesa, url } = await startServer({ ...options, adapter, sync: { enabled: true, ...options.sync } })
  mesa.on('connection', (client) => client.authenticate((data, done) => done(null, { id: String(data.id), user: {} })))
  return { mesa, url, adapter }
}

/**
 * A v2 client's view across its connections: each connection resumes from the positions the previous one
 * delivered up to (the raw client keeps them, dropping duplicates as the protocol prescribes), and `delivered`
 * collects what the current connection delivers.
 */
export class Tracker {
  readonly delivered: WireFrame[] = []
  private current: RawClient | undefined
  private detached: Positions = {}

  /** Where the next connection resumes from. */
  get positions(): Positions {
    return this.current?.positions ?? this.detached
  }

  /**
   * The application stops processing the current connection (it hangs, or the test is about to cut it): what
   * still arrives on it is neither delivered nor moves the positions the next connection resumes from.
   */
  detach(): void {
    this.detached = { ...this.positions }
    this.current = undefined
  }

  /** Opens a v2 socket to `url` and authenticates as `id`, resuming where the last connection left off. */
  async connect(url: string, id: string): Promise<RawClient> {
    let socket: RawClient | undefined
    socket = await connect(url, {
      v2: true,
      positions: this.positions,
      // A replaced connection's late frames are not the application's any more.
      onDeliver: (frame) => {
        if (socket !== undefined && socket === this.current) this.delivered.push(frame)
      },
    })
    this.current = socket
    await socket.authenticate({ id })
    return socket
  }

  numbers(): number[] {
    return numbersOf(this.delivered)
  }
}
