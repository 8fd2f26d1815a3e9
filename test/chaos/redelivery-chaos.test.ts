import type { MesaError } from '@mesa/core'
import { GLOBAL_STREAM, MemoryAdapter, type StoredEntry, userStream } from '@mesa/core/server'
import { Message } from '@mesa/server'
import { afterEach, describe, expect, it } from 'vitest'
import { delay, Scope, waitFor, withTimeout } from '@mesa/test-kit'
import { startServer } from '../compat/support.js'
import { ChaosClient, random, type Seen } from './chaos-support.js'

/**
 * Issue 3's chaos test: 50 users (some with two sockets), a stream of several thousand synced messages,
 * targeted (user streams) and broadcast (global stream, some excluding users), while a fault injector cuts
 * random sockets abruptly, from the server side (destroying the socket under the server's `ws`) and from the
 * client side (destroying the client's TCP socket), a few hundred times. Every client must end with exactly
 * what its user was sent: in each stream the numbers 1..n in order, no gap, no duplicate, counted where the
 * application's `message` listener sees them.
 *
 * Bounded: fixed counts, every wait has a deadline; a failing run can be replayed with MESA_CHAOS_SEED.
 */

const USERS = 50
/** Sends in the stream; every BROADCAST_EVERY-th is a broadcast, the others go to 1-3 random users. */
const SENDS = 3600
const BROADCAST_EVERY = 9
/** Sends in flight together. */
const BATCH = 30
const KILLS = 300
const SEED = Number(process.env.MESA_CHAOS_SEED ?? 20261129)

const scope = new Scope()
afterEach(() => scope.cleanup())

function frameNumber(entry: StoredEntry): number {
  return (JSON.parse(entry.frame) as { d: { m: number } }).d.m
}

async function readAll(adapter: MemoryAdapter, stream: string): Promise<StoredEntry[]> {
  const head = await adapter.store.head(stream)
  const result = await adapter.store.readAfter(stream, { epoch: head.epoch, seq: 0 })
  if (result.status !== 'ok') throw new Error(`the store lost ${stream}: ${result.status}`)
  return result.entries
}

/** Where a client stands against what it should have: for a failure message that says what went missing. */
function describeLag(c: ChaosClient, want: { user: Seen[]; global: Seen[] }): string {
  const missing = (got: Seen[], all: Seen[]): string => {
    const have = new Set(got.map((seen) => seen.sequence))
    const gone = all.filter((seen) => !have.has(seen.sequence)).map((seen) => seen.sequence)
    return `${got.length}/${all.length}${gone.length > 0 ? ` missing s=${gone.slice(0, 8).join(',')}${gone.length > 8 ? '...' : ''}` : ''}`
  }
  return (
    `  ${c.userId} (${c.client.state}, positions ${JSON.stringify(c.client.positions)}): ` +
    `user ${missing(c.user, want.user)}, global ${missing(c.global, want.global)}, resyncs ${JSON.stringify(c.resyncs)}`
  )
}

/**
 * Broadcasts to `['*']` (every authenticated user) only, or alternately to `['*']` and to every socket (no
 * recipients): both are stored in the global stream.
 */
const MODES = [
  { name: "targeted sends and ['*'] broadcasts", everySocket: false, redeliveryInterval: 0 },
  { name: "targeted sends and ['*'] broadcasts, replays paced 1 ms apart", everySocket: false, redeliveryInterval: 1 },
  { name: "targeted sends and broadcasts to ['*'] and to every socket", everySocket: true, redeliveryInterval: 0 },
]

describe.each(MODES)('redelivery chaos: $name', ({ everySocket, redeliveryInterval }) => {
  it(`${USERS} users, ${SENDS} sends, ${KILLS} abrupt socket kills: each client gets 1..n of each stream, once, in order`, async () => {
    const started = Date.now()
    const adapter = new MemoryAdapter({ retention: { maxEntries: 10_000 } })
    const server = await startServer(scope, {
      adapter,
      sync: { enabled: true, redeliveryInterval },
      heartbeat: { enabled: true, interval: 1000, maxAttempts: 3 },
    })
    const ids = Array.from({ length: USERS }, (_, i) => `u${i}`)
    const clients: ChaosClient[] = []
    for (const [i, id] of ids.entries()) {
      const sockets = i % 5 === 0 ? 2 : 1
      for (let k = 0; k < sockets; k++) clients.push(new ChaosClient(id, server.url, { backoffMax: 100 }))
    }
    scope.defer(() => {
      for (const { client } of clients) client.disconnect()
    })
    let reconnects = 0
    for (const { client } of clients) {
      client.on('connected', (info) => {
        if (info.isAutomaticReconnection) reconnects++
      })
    }
    await withTimeout(
      'every client to authenticate',
      Promise.all(clients.map(({ client, userId }) => client.authenticate({ id: userId }))),
      15_000,
    )

    const rng = random(SEED)
    /** Targeted numbers each user was sent, in the order the sends were made. */
    const addressed = new Map(ids.map((id) => [id, [] as number[]]))
    /** Broadcast numbers and who each one excluded. */
    const broadcasts = new Map<number, string[]>()
    const failures: unknown[] = []
    let serverKills = 0
    let clientKills = 0

    const kill = (): boolean => {
      if (rng.chance(0.5)) {
        const live = server.mesa.clients
        if (live.length === 0) return false
        // The socket under the server's `ws`: gone without a close frame, as `terminate()` does.
        live[rng.int(live.length)]!.upgradeRequest.socket.destroy()
        serverKills++
        return true
      }
      if (!clients[rng.int(clients.length)]!.cut()) return false
      clientKills++
      return true
    }
    const kills = (): number => serverKills + clientKills

    const send = (m: number): Promise<void> => {
      let sending: Promise<void>
      if (m % BROADCAST_EVERY === 0) {
        const excluding = Array.from({ length: rng.int(3) }, () => ids[rng.int(USERS)]!)
        broadcasts.set(m, excluding)
        const recipients = everySocket && m % 2 === 0 ? undefined : ['*']
        sending = server.mesa.send(new Message(0, { m }, 'B'), recipients, excluding)
      } else {
        const recipients = new Set(Array.from({ length: 1 + rng.int(3) }, () => ids[rng.int(USERS)]!))
        for (const id of recipients) addressed.get(id)!.push(m)
        sending = server.mesa.send(new Message(0, { m }, 'T'), [...recipients])
      }
      return sending.catch((error: unknown) => {
        failures.push(error)
      })
    }

    const batches = Math.ceil(SENDS / BATCH)
    for (let batch = 0; batch < batches; batch++) {
      const inFlight: Promise<void>[] = []
      for (let m = batch * BATCH + 1; m <= Math.min(SENDS, (batch + 1) * BATCH); m++) inFlight.push(send(m))
      // Kills land while the batch is being stored and written, spread evenly over the stream.
      const due = Math.round((KILLS * (batch + 1)) / batches)
      for (let attempts = 0; kills() < due && attempts < 50; attempts++) {
        kill()
        await new Promise((resolve) => setImmediate(resolve))
      }
      await Promise.all(inFlight)
    }
    const streamed = Date.now()
    expect(failures).toEqual([])

    /** What each user must have: its stream in store order (the order the server numbered it), and the broadcasts meant for it. */
    const globalEntries = await readAll(adapter, GLOBAL_STREAM)
    expect(globalEntries.map(frameNumber).sort((a, b) => a - b)).toEqual([...broadcasts.keys()])
    const expected = new Map<string, { user: Seen[]; global: Seen[] }>()
    for (const id of ids) {
      const entries = await readAll(adapter, userStream(id))
      // The store holds exactly what the test sent this user.
      expect(entries.map(frameNumber).sort((a, b) => a - b)).toEqual(addressed.get(id)!.slice().sort((a, b) => a - b))
      expect(entries.map((entry) => entry.seq)).toEqual(entries.map((_, i) => i + 1))
      const global = globalEntries
        .filter((entry) => !broadcasts.get(frameNumber(entry))!.includes(id))
        .map((entry) => ({ m: frameNumber(entry), sequence: entry.seq }))
      expected.set(id, { user: entries.map((entry) => ({ m: frameNumber(entry), sequence: entry.seq })), global })
    }

    const complete = (c: ChaosClient): boolean => {
      const want = expected.get(c.userId)!
      return c.user.length >= want.user.length && c.global.length >= want.global.length
    }
    // Up to 30 s, but a run where every client is back, authenticated, and nothing arrived for 2 s is over.
    let delivered = -1
    let stalledSince = Date.now()
    await waitFor(
      'every client to deliver all its messages',
      () => {
        if (clients.every(complete)) return true
        const now = clients.reduce((total, c) => total + c.user.length + c.global.length, 0)
        if (now !== delivered || !clients.every((c) => c.client.state === 'authenticated')) {
          delivered = now
          stalledSince = Date.now()
        } else if (Date.now() - stalledSince > 2000) {
          throw new Error('deliveries stopped with every client authenticated')
        }
        return false
      },
      30_000,
      20,
    ).catch((error: Error) => {
      const behind = clients.filter((c) => !complete(c)).map((c) => describeLag(c, expected.get(c.userId)!))
      throw new Error(`${error.message}; ${behind.length} clients behind:\n${behind.join('\n')}`)
    })
    // Anything late (a duplicate) would arrive right behind the rest.
    await delay(200)

    for (const c of clients) {
      const want = expected.get(c.userId)!
      expect({ client: c.userId, user: c.user, global: c.global }).toEqual({ client: c.userId, ...want })
      expect(c.resyncs).toEqual([])
      expect(c.other).toEqual([])
    }
    const lost = server.errors.filter((error) => ['history-lost', 'store-error'].includes((error as MesaError).code))
    expect(lost).toEqual([])
    expect(kills()).toBeGreaterThanOrEqual(KILLS)

    const deliveries = clients.reduce((total, c) => total + c.user.length + c.global.length, 0)
    console.info(
      `chaos (seed ${SEED}, ${everySocket ? 'every-socket and [*]' : '[*]'} broadcasts, replay pacing ${redeliveryInterval} ms): ${USERS} users on ${clients.length} sockets, ${SENDS} sends ` +
        `(${broadcasts.size} broadcasts, ${SENDS - broadcasts.size} targeted), ${deliveries} deliveries checked, ` +
        `${kills()} kills (${serverKills} server-side, ${clientKills} client-side), ${reconnects} reconnects, ` +
        `stream ${streamed - started} ms, total ${Date.now() - started} ms`,
    )
  }, 90_000)
})
