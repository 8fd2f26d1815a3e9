import { MemoryAdapter, type StreamPosition } from '@mesa/core'
import type { Mesa, MesaOptions } from '../src/index.js'
import { startServer, TestSocket, type WireFrame } from './helpers.js'

export interface Positions {
  user?: StreamPosition
  global?: StreamPosition
}

/** A synced server that authenticates `{ id }` as user `id`. */
export async function syncServer(options: MesaOptions = {}): Promise<{ mesa: Mesa; url: string; adapter: MemoryAdapter }> {
  const adapter = (options.adapter as MemoryAdapter | undefined) ?? new MemoryAdapter()
  const { mesa, url } = await startServer({ ...options, adapter, sync: { enabled: true, ...options.sync } })
  mesa.on('connection', (client) => client.authenticate((data, done) => done(null, { id: String(data.id), user: {} })))
  return { mesa, url, adapter }
}

/** A v2 client's view: positions it delivered up to, and the messages it delivered (s beyond the position). */
export class Tracker {
  positions: Positions = {}
  delivered: WireFrame[] = []

  /** Reads op 22 (adopting heads unless resuming succeeded) and every op 0 after it in `socket`. */
  follow(socket: TestSocket, resumed: boolean): void {
    const ackIndex = socket.frames.findIndex((f) => f.op === 22)
    const ack = socket.frames[ackIndex]!
    const heads = (ack.x?.streams ?? {}) as Positions
    if (!(resumed && ack.x?.recovered === true)) this.positions = { ...heads }
    for (const kind of ['user', 'global'] as const) {
      if (!this.positions[kind] && heads[kind]) this.positions[kind] = { ...heads[kind]! }
    }
    let index = ackIndex + 1
    const pump = (): void => {
      for (; index < socket.frames.length; index++) {
        const frame = socket.frames[index]!
        if (frame.op !== 0) continue
        const kind = frame.x?.st === 'g' ? 'global' : 'user'
        const position = this.positions[kind]
        if (frame.s !== undefined && position) {
          if (frame.s <= position.seq) continue
          position.seq = frame.s
        }
        this.delivered.push(frame)
      }
    }
    pump()
    socket.onFrame.push(pump)
  }

  async connect(url: string, id: string): Promise<TestSocket> {
    const socket = await TestSocket.open(url, { v2: true })
    const resume = this.positions.user || this.positions.global
    await socket.authenticate({ id }, resume ? { resume: this.positions } : undefined)
    this.follow(socket, resume !== undefined)
    return socket
  }

  numbers(): unknown[] {
    return this.delivered.map((frame) => frame.d.n)
  }
}

