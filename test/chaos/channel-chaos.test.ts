import { describe, expect, it } from 'vitest'
import {
  type Child,
  delay,
  freePort,
  RedisServer,
  scenario,
  startClientFleet,
  startPublisher,
  startServers,
  waitFor,
} from '@mesa/test-kit'
import { LinkCuts, random } from './chaos-support.js'
import { type Audit, audit, type ClientRecord, numbers, type Position } from './channel-log.js'

/**
 * Issue 11's chaos test, for channels, through real processes: SERVERS server processes (the built packages) on a
 * private Redis, a Dispatcher process publishing 1..N to each of CHANNELS channels (each number stored exactly
 * once, whatever fails), and a process of CLIENTS `@mesa/client-node` clients (the build), each subscribed to
 * PER_CLIENT channels and connected through a round-robin balancer over the servers. While the stream runs, links
 * are cut at random from both sides (the server destroys a socket under ws, or a client its TCP socket), one
 * server is killed with SIGKILL, and Redis is restarted:
 *
 * - with an append-only file (the restart keeps the data): every subscriber gets exactly 1..N of each of its
 *   channels, in order, every subscription recovering each time;
 * - cache-only (the restart loses every stream): every subscriber is told `recovered: false` with a reason, per
 *   channel, and what it gets is still in order with no hole it was not told about: each publication is the one
 *   right after the last it got, or after the head a `recovered: false` told it; at the end it is at the head.
 *
 * What counts is what the application sees: the subscriptions' `message` and `subscribed` events. Fixed counts,
 * every wait bounded; a failing run is replayed with its seed. For longer runs (see test/chaos/README.md):
 * MESA_CHAOS_SEED, MESA_CHAOS_PUBLICATIONS, MESA_CHAOS_CLIENTS, MESA_CHAOS_CUTS.
 */

const { scope, watch } = scenario(['core', 'server', 'redis-adapter', 'dispatcher', 'client-node'])

const SERVERS = 3
const CHANNELS = 6
const PER_CLIENT = 3
const CLIENTS = Number(process.env.MESA_CHAOS_CLIENTS ?? 24)
/** Publications per channel. */
const PUBLICATIONS = Number(process.env.MESA_CHAOS_PUBLICATIONS ?? 300)
/** Pause between two publications of a channel (ms). */
const PAUSE_MS = 20
/** Links cut over the stream, spread evenly over it. */
const CUTS = Number(process.env.MESA_CHAOS_CUTS ?? 150)
/** The whole test's time limit: raise it for longer runs. */
const TIMEOUT_MS = Number(process.env.MESA_CHAOS_TIMEOUT_MS ?? 120_000)
const SEED = Number(process.env.MESA_CHAOS_SEED ?? 20261211)
/** How long Redis stays down, and the links cut meanwhile (besides CUTS). */
const OUTAGE_MS = 300
const OUTAGE_CUTS = 8

interface PublisherState {
  last: Record<string, number>
  done: boolean
  failures: Record<string, number>
  error: string | undefined
}

interface History {
  epoch: string
  status: string
  entries?: [seq: number, n: number][]
}

const MODES = [
  { name: 'Redis with an append-only file restarted', persistent: true },
  { name: 'cache-only Redis restarted, losing every stream', persistent: false },
]

describe.each(MODES)('channel chaos: $name', ({ persistent }) => {
  it(`${CLIENTS} clients on ${SERVERS} servers, ${CHANNELS} channels of ${PUBLICATIONS}, ${CUTS} cuts, a server killed`, async () => {
    const started = Date.now()
    const redis = scope.add(new RedisServer(await freePort(), { persistent }), (r) => r.destroy())
    await redis.start()
    const ns = `channel-chaos-${persistent ? 'aof' : 'cache'}`
    const servers = await startServers(scope, redis, SERVERS, { namespace: ns, sync: true, channels: true })
    const publisher = await startPublisher(scope, redis, { namespace: ns })
    const fleet = await startClientFleet(scope, 'channel', ns)
    watch(...servers, publisher, fleet)

    const rng = random(SEED)
    const channels = Array.from({ length: CHANNELS }, (_, i) => `room:${i}`)
    const specs = Array.from({ length: CLIENTS }, (_, i) => {
      const mine = new Set<string>()
      while (mine.size < PER_CLIENT) mine.add(channels[rng.int(CHANNELS)]!)
      return { user: `u${i}`, home: i % SERVERS, channels: [...mine] }
    })
    const ports = servers.map((server) => server.info.port as number)
    await fleet.call('start', specs, ports, { base: 5, factor: 2, max: 100, resetAfter: 200 })
    await publisher.call('start', channels, PUBLICATIONS, PAUSE_MS)

    // The chaos, paced by how far the publisher is: cuts spread over the stream, a kill -9 at a third, Redis
    // restarted at two thirds while the cuts go on.
    const cuts = new LinkCuts(rng, [...servers], fleet)
    let killed: Child | undefined
    let restart: Promise<void> | undefined
    let state: PublisherState
    const deadline = started + TIMEOUT_MS / 2
    for (;;) {
      state = await publisher.call<PublisherState>('progress')
      if (state.done) break
      if (Date.now() > deadline) throw new Error(`the stream is not over in time: ${JSON.stringify(state)}`)
      const reached = Math.min(...Object.values(state.last))
      if (killed === undefined && reached >= PUBLICATIONS / 3) {
        killed = cuts.servers.shift()!
        await killed.kill('SIGKILL')
      }
      if (restart === undefined && reached >= (2 * PUBLICATIONS) / 3) {
        restart = (async () => {
          await redis.stop()
          // Links cut while Redis is away: those clients resubscribe before it is back.
          for (let i = 0; i < OUTAGE_CUTS; i++) await cuts.cut()
          await delay(OUTAGE_MS)
          await redis.start()
        })()
      }
      await cuts.upTo(Math.round((CUTS * reached) / PUBLICATIONS))
      await delay(25)
    }
    await restart
    const streamed = Date.now()
    expect(state.error).toBeUndefined()
    expect(killed).toBeDefined()
    const last = state.last

    // Every subscriber gets to the last publication of each of its channels.
    await waitFor(
      'every subscriber to get the last publication of its channels',
      async () => {
        const progress = await fleet.call<Record<string, number>[]>('progress')
        return specs.every((spec, i) => spec.channels.every((channel) => progress[i]![channel] === last[channel]))
      },
      30_000,
      200,
    ).catch(async (error: Error) => {
      const progress = await fleet.call<Record<string, number>[]>('progress')
      const behind = specs
        .map((spec, i) => ({ user: spec.user, got: progress[i]! }))
        .filter(({ got }) => Object.entries(got).some(([channel, n]) => n !== last[channel]))
      throw new Error(`${error.message}; last ${JSON.stringify(last)}; behind: ${JSON.stringify(behind)}`)
    })
    // Anything late (a duplicate) would arrive right behind the rest.
    await delay(200)

    const records = await fleet.call<ClientRecord[]>('records')
    const heads = new Map<string, Position>()
    const stored = new Map<string, Map<number, number>>()
    for (const channel of channels) {
      const history = await publisher.call<History>('history', channel)
      expect(history.status).toBe('ok')
      const entries = history.entries!
      // Each number stored once, in order, the last one at the head.
      expect(entries.map(([seq]) => seq)).toEqual(entries.map((_, i) => i + 1))
      const ns = entries.map(([, n]) => n)
      expect(ns).toEqual(ns.map((_, i) => ns[0]! + i))
      expect(ns.at(-1)).toBe(last[channel])
      if (persistent) expect(ns[0]).toBe(1)
      heads.set(channel, { epoch: history.epoch, seq: entries.length })
      stored.set(channel, new Map(entries))
    }

    let delivered = 0
    let resyncs = 0
    for (const record of records) {
      expect({ user: record.user, errors: record.errors }).toEqual({ user: record.user, errors: [] })
      for (const [channel, log] of Object.entries(record.channels)) {
        const result: Audit = audit(log)
        delivered += result.delivered
        resyncs += result.resyncs.length
        const head = heads.get(channel)!
        expect({ user: record.user, channel, problems: result.problems, at: result.at }).toEqual({
          user: record.user,
          channel,
          problems: [],
          at: head,
        })
        // The publications of the last history are its stored ones.
        const final = log.filter((entry) => entry[0] === 'm' && entry[3] === head.epoch)
        for (const [, n, s] of final) expect({ channel, s, n }).toEqual({ channel, s, n: stored.get(channel)!.get(s as number) })
        if (persistent) {
          expect({ user: record.user, channel, n: numbers(log) }).toEqual({
            user: record.user,
            channel,
            n: Array.from({ length: last[channel]! }, (_, i) => i + 1),
          })
          expect(result.resyncs).toEqual([])
        } else {
          // Every subscriber had a position in the history Redis lost: it is told, per channel, with the reason.
          expect(result.resyncs.length).toBeGreaterThan(0)
          for (const reason of result.resyncs) expect(['epoch-changed', 'store-unavailable']).toContain(reason)
        }
      }
    }

    const reconnects = records.reduce((total, record) => total + record.connections - 1, 0)
    console.info(
      `channel chaos (seed ${SEED}, ${persistent ? 'AOF' : 'cache-only'} Redis restarted): ${CLIENTS} clients, ` +
        `${CHANNELS} channels, ${specs.length * PER_CLIENT} subscriptions, publications ${JSON.stringify(last)}, ` +
        `${delivered} deliveries checked, ${cuts}, 1 server killed, ${reconnects} reconnects, ${resyncs} recovered: false, publisher failures ` +
        `${JSON.stringify(state.failures)}, stream ${streamed - started} ms, total ${Date.now() - started} ms`,
    )
  }, TIMEOUT_MS)
})
