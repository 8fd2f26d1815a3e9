import { connect, type NetConnectOpts, type Socket } from 'node:net'
import { Client, type Message } from '@mesa/client-node'

/** Deterministic pseudo-random numbers (mulberry32), so a failing run can be replayed with its seed. */
export function random(seed: number): { int(n: number): number; chance(p: number): boolean; fraction(): number } {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return { int: (n) => Math.floor(next() * n), chance: (p) => next() < p, fraction: next }
}

/** One message as the application's `message` listener saw it. */
export interface Seen {
  /** Number the test gave the send. */
  m: number
  sequence: number | undefined
}

/**
 * A `@mesa/client-node` client whose TCP sockets the test can cut (its `ws` connects through `createConnection`),
 * recording what its application listener delivers, per stream: `T` messages are targeted (the user's
 * stream), `B` broadcasts (the global stream).
 */
export class ChaosClient {
  readonly client: Client
  readonly user: Seen[] = []
  readonly global: Seen[] = []
  readonly resyncs: unknown[] = []
  readonly other: unknown[] = []
  /** TCP sockets of this client not closed yet (the current one, possibly one still closing). */
  readonly sockets = new Set<Socket>()

  constructor(
    readonly userId: string,
    url: string,
    options: { backoffMax: number },
  ) {
    this.client = new Client(url, {
      backoff: { base: 5, factor: 2, max: options.backoffMax, resetAfter: 200 },
      ws: {
        createConnection: ((opts: NetConnectOpts) => {
          const socket = connect(opts)
          this.sockets.add(socket)
          socket.once('close', () => this.sockets.delete(socket))
          return socket
        }) as never,
      },
    })
    this.client.on('message', (message: Message) => {
      const m = message.data.m as number
      if (message.type === 'T') this.user.push({ m, sequence: message.sequence })
      else if (message.type === 'B') this.global.push({ m, sequence: message.sequence })
      else this.other.push(message.toJSON())
    })
    this.client.on('resync', (reason) => this.resyncs.push(reason))
    // Cut sockets make `ws` report errors; the session reconnects on its own.
    this.client.on('error', () => {})
  }

  /** Cuts the client's connection abruptly (no close frame), as a dropped network would. */
  cut(): boolean {
    const socket = [...this.sockets].find((s) => !s.destroyed)
    if (!socket) return false
    socket.destroy()
    return true
  }
}
