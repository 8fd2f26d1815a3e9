import { AdapterError, GLOBAL_STREAM, StoreError, userStream } from '@mesa/core'
import { Client, Message } from '@mesa/client-node'
import { Mesa } from '@mesa/server'
import { afterEach, describe, expect, it } from 'vitest'
import { RedisAdapter } from '../src/index.js'
import { RedisSentinelGroup } from '../../../test/integration/harness/redis-sentinel-group.js'
import { Scope } from '../../../test/integration/harness/scope.js'
import { delay, waitFor } from '../../../test/integration/harness/wait.js'

const scope = new Scope()
afterEach(() => scope.cleanup())

type Payload = { n: number }
/** `alice` is on server a, `bob` on server b; `*` is a broadcast to every authenticated user. */
type Target = 'alice' | 'bob' | '*'

interface Node {
  adapter: RedisAdapter
  mesa: Mesa
  url: string
  errors: Error[]
  readies: number[]
}

interface Sent {
  n: number
  target: Target
  outcome: 'pending' | 'sent' | Error
}

/** A Mesa server with sync on a RedisAdapter that finds the master through the group's sentinels. */
async function node(group: RedisSentinelGroup, namespace: string): Promise<Node> {
  const adapter = scope.add(new RedisAdapter(group.connection, { namespace }), (a) => a.close())
  const errors: Error[] = []
  const readies: number[] = []
  adapter.on('error', (error) => errors.push(error))
  adapter.on('ready', () => readies.push(errors.length))
  const mesa = scope.add(new Mesa({ port: 0, host: '127.0.0.1', adapter, sync: { enabled: true } }), (m) => m.close())
  mesa.on('connection', (client) => client.authenticate((data, done) => done(null, { id: String(data.id), user: {} })))
  await mesa.listening()
  return { adapter, mesa, url: `ws://127.0.0.1:${mesa.port}`, errors, readies }
}

/** An authenticated client-node client recording the `n` of every message it gets and every disconnect. */
async function user(url: string, id: string): Promise<{ got: number[]; drops: number[] }> {
  const client = scope.add(new Client(url), (c) => c.disconnect())
  const got: number[] = []
  const drops: number[] = []
  client.on('message', (message) => got.push((message.data as Payload).n))
  client.on('disconnected', (code: number) => drops.push(code))
  await client.authenticate({ id })
  return { got, drops }
}

/** The `n` of each entry of `stream`, in sequence order, as the (new) master holds them. */
async function stored(adapter: RedisAdapter, stream: string): Promise<number[]> {
  const { epoch } = await adapter.store.head(stream)
  const read = await adapter.store.readAfter(stream, { epoch, seq: 0 })
  if (read.status !== 'ok') throw new Error(`${stream}: ${read.status}`)
  return read.entries.map((entry) => (JSON.parse(entry.frame) as { d: Payload }).d.n)
}

/**
 * A master, a replica and three sentinels; servers a and b on adapters through the sentinels; alice on a, bob
 * on b; `round()` sends from a to bob and from b to alice (each reaching its user only through replication)
 * and a broadcast from each, recording every outcome in `sends`.
 */
async function setup() {
  const group = scope.add(await RedisSentinelGroup.start({ downAfterMs: 1000, failoverTimeoutMs: 3000 }), (g) =>
    g.destroy(),
  )
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown) => unhandled.push(reason)
  process.on('unhandledRejection', onUnhandled)
  scope.defer(() => void process.off('unhandledRejection', onUnhandled))
  const a = await node(group, 'failover')
  const b = await node(group, 'failover')
  const alice = await user(a.url, 'alice')
  const bob = await user(b.url, 'bob')

  const sends: Sent[] = []
  const send = async (from: Node, target: Target): Promise<Sent> => {
    const record: Sent = { n: sends.length, target, outcome: 'pending' }
    sends.push(record)
    const message = new Message(0, { n: record.n }, target === '*' ? 'EVERYONE' : 'TO_USER')
    try {
      await from.mesa.send(message, [target])
      record.outcome = 'sent'
    } catch (error) {
      record.outcome = error as Error
    }
    return record
  }
  const round = () => Promise.all([send(a, 'bob'), send(b, 'alice'), send(a, '*'), send(b, '*')])
  for (let i = 0; i < 5; i++) await round()
  await waitFor('the first rounds', () => alice.got.length === 15 && bob.got.length === 15)

  /** Both adapters are on the promoted replica, having reported the switch as AdapterError events, then ready. */
  const checkOnPromotedReplica = async () => {
    for (const { adapter, errors, readies } of [a, b]) {
      expect(String(await adapter.client.call('INFO', 'replication'))).toContain('role:master')
      expect(String(await adapter.client.call('INFO', 'server'))).toContain(`tcp_port:${group.replica.port}`)
      expect(errors.length).toBeGreaterThan(0)
      expect(errors.every((e) => e instanceof AdapterError)).toBe(true)
      // Its last ready came after its last error: it ended up with every connection back.
      expect(readies.at(-1)).toBe(errors.length)
    }
  }

  /** Replication works: a round sent now reaches bob from a and alice from b, live. */
  const checkLastRound = async () => {
    const last = await round()
    expect(last.map((s) => s.outcome)).toEqual(['sent', 'sent', 'sent', 'sent'])
    const [toBob, toAlice, fromA, fromB] = last.map((s) => s.n) as [number, number, number, number]
    await waitFor('the last round', () => alice.got.includes(toAlice) && bob.got.includes(toBob))
    await waitFor('both last broadcasts', () =>
      [alice, bob].every(({ got }) => got.includes(fromA) && got.includes(fromB)),
    )
  }

  /** What the promoted replica holds per target; each client got exactly that, once each and in order. */
  const checkDelivered = async (): Promise<Record<Target, number[]>> => {
    const streams: Record<Target, number[]> = {
      alice: await stored(a.adapter, userStream('alice')),
      bob: await stored(a.adapter, userStream('bob')),
      '*': await stored(a.adapter, GLOBAL_STREAM),
    }
    for (const [client, own] of [
      [alice, streams.alice],
      [bob, streams.bob],
    ] as const) {
      const only = (stream: number[]) => client.got.filter((n) => stream.includes(n))
      expect(only(own)).toEqual(own)
      expect(only(streams['*'])).toEqual(streams['*'])
      expect(client.got).toHaveLength(own.length + streams['*'].length)
      // The websockets never dropped: a Redis failover is invisible to clients.
      expect(client.drops).toEqual([])
    }
    expect(unhandled).toEqual([])
    return streams
  }

  return { group, a, b, sends, round, checkOnPromotedReplica, checkLastRound, checkDelivered }
}

describe('RedisAdapter through a Sentinel failover', () => {
  it('kill -9 of the master: reconnects to the promoted replica, replication resumes, every send either resolves or rejects with a typed error, and clients get exactly what was stored', async () => {
    const { group, a, b, sends, round, checkOnPromotedReplica, checkLastRound, checkDelivered } = await setup()

    // Sends keep going, one round at a time, through the whole failover.
    let flowing = true
    const traffic = (async () => {
      while (flowing) {
        await round()
        await delay(20)
      }
    })()
    scope.defer(async () => {
      flowing = false
      await traffic
    })
    await delay(100)
    // The master stalls before it dies, so that sends are certainly in flight (written, unanswered) when it
    // does; its replica has everything acknowledged so far (replication being asynchronous, writes it had not
    // received would be lost with the master, a limit of Redis that no client can work around).
    await group.pauseMasterWrites(10_000)
    await waitFor('the replica to catch up', () => group.replicaCaughtUp(), 5000)
    await waitFor('sends in flight', () => sends.some((s) => s.outcome === 'pending'))
    const inFlight = sends.filter((s) => s.outcome === 'pending')
    await group.master.stop('SIGKILL')

    await waitFor(
      'the sentinels to promote the replica',
      async () => (await group.masterPort()) === group.replica.port,
      15_000,
      100,
    )
    await waitFor('both adapters to be ready again', () => a.readies.length > 0 && b.readies.length > 0, 10_000)
    await waitFor('sends to succeed again', () => sends.slice(-8).every((s) => s.outcome === 'sent'), 10_000)
    flowing = false
    await traffic

    await checkOnPromotedReplica()
    await checkLastRound()
    const streams = await checkDelivered()

    const isStored = (s: Sent) => streams[s.target].includes(s.n)
    const failed = sends.filter((s) => s.outcome !== 'sent')
    // Every send settled: resolved, or rejected with StoreError or AdapterError; none is retried later.
    expect(sends.filter((s) => s.outcome === 'pending')).toEqual([])
    expect(failed.filter((s) => !(s.outcome instanceof StoreError || s.outcome instanceof AdapterError))).toEqual([])
    // A resolved send is on the promoted replica.
    expect(sends.filter((s) => s.outcome === 'sent' && !isStored(s))).toEqual([])
    // StoreError: the message was not stored, and (checkDelivered) nobody got it. AdapterError: it was stored,
    // only the live publish failed; it reached every recipient anyway (through redelivery on the other server).
    expect(failed.filter((s) => s.outcome instanceof StoreError && isStored(s))).toEqual([])
    expect(failed.filter((s) => s.outcome instanceof AdapterError && !isStored(s))).toEqual([])
    // Sends in flight when the master died were rejected (ioredis gives up on them after its retries) ...
    expect(inFlight.length).toBeGreaterThan(0)
    expect(inFlight.filter((s) => s.outcome === 'sent')).toEqual([])
    // ... and while Redis was unreachable, sends failed fast rather than waiting for the failover.
    const fast = failed.filter((s) => s.outcome instanceof StoreError && /Redis is unreachable/.test(s.outcome.message))
    expect(fast.length).toBeGreaterThan(0)
  }, 30_000)

  it('SENTINEL FAILOVER: leaves the old master as soon as Sentinel announces the new one, before Sentinel demotes it, and carries on there', async () => {
    const { group, a, b, sends, checkOnPromotedReplica, checkLastRound, checkDelivered } = await setup()
    await waitFor('the replica to catch up', () => group.replicaCaughtUp(), 5000)
    await group.failover()
    await waitFor('both adapters to be ready again', () => a.readies.length > 0 && b.readies.length > 0, 10_000)
    // The old master is alive and still a master: Sentinel reconfigures it as a replica seconds later. Until
    // then it accepts writes that are lost when it is reconfigured, so the adapters must not wait for that.
    expect(await group.roleOf(group.master)).toBe('master')
    expect(await group.masterPort()).toBe(group.replica.port)

    await checkOnPromotedReplica()
    await checkLastRound()
    const streams = await checkDelivered()
    expect(sends.filter((s) => s.outcome !== 'sent')).toEqual([])
    for (const target of ['alice', 'bob', '*'] as const) {
      const sorted = [...streams[target]].sort((x, y) => x - y)
      expect(sorted).toEqual(sends.filter((s) => s.target === target).map((s) => s.n))
    }
  }, 30_000)
})
