import { connect, type NetConnectOpts, type Socket } from 'node:net'
import { Client, type Message } from '@mesa/client-node'
import type { Child } from '@mesa/test-kit'

/** Deterministic pseudo-random numbers (mulberry32), so a failing run can be replayed with its seed. */
export type Random = { int(n: number): number; chance(p: number): boolean; fraction(): number }

export function random(seed: number): Random {
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

/**
 * Cuts links at random between server processes (`fixtures/server.mjs`, `cut`) and a client fleet process
 * (`fixtures/channel-clients.mjs`, `fixtures/request-clients.mjs`): half from the server's side (a socket destroyed
 * under ws), half from the client's (its TCP socket destroyed). `servers` are those alive: take a killed one out.
 */
export class LinkCuts {
  serverSide = 0
  clientSide = 0

  constructor(
    private readonly rng: Random,
    readonly servers: Child[],
    private readonly fleet: Child,
  ) {}

  get total(): number {
    return this.serverSide + this.clientSide
  }

  /** One cut, unless the socket picked had no link (it was reconnecting). */
  async cut(): Promise<void> {
    if (this.rng.chance(0.5)) {
      if (await this.servers[this.rng.int(this.servers.length)]!.call<boolean>('cut', this.rng.fraction())) this.serverSide++
    } else if (await this.fleet.call<boolean>('cut', this.rng.fraction())) this.clientSide++
  }

  /** Cuts until `due` links were cut in all, within twice as many tries (a try may find no link). */
  async upTo(due: number): Promise<void> {
    const tries = 2 * (due - this.total)
    for (let i = 0; this.total < due && i < tries; i++) await this.cut()
  }

  toString(): string {
    return `${this.total} cuts (${this.serverSide} server-side, ${this.clientSide} client-side)`
  }
}
