import type { ResumePositions, ResyncReason, StreamKind } from '@mesa/core'
import { GLOBAL_STREAM, userStream } from '@mesa/core/server'
import { Client, Message } from '@mesa/client-node'
import { Mesa } from '@mesa/server'
import { expect } from 'vitest'
import type { RedisAdapter } from '../../src/index.js'
import { delay, type Scope, waitFor } from '@mesa/test-kit'

export type Payload = { n: number }
/** `alice` is on server a, `bob` on server b; `*` is a broadcast to every authenticated user. */
export type Target = 'alice' | 'bob' | '*'

export interface Node {
  adapter: RedisAdapter
  mesa: Mesa
  url: string
  errors: Error[]
  /** `errors.length` at each `ready` the adapter emitted. */
  readies: number[]
}

export interface User {
  got: number[]
  drops: number[]
  /** Each `resync`: its reason, the heads it announced, and how many messages the client had got before. */
  resyncs: { reason: ResyncReason | undefined; streams: ResumePositions; at: number }[]
}

export interface Sent {
  n: number
  target: Target
  outcome: 'pending' | 'sent' | Error
}

export interface TwoServers {
  a: Node
  b: Node
  alice: User
  bob: User
  /** Every send so far, in the order it started; `n` is its index. */
  sends: Sent[]
  /** a sends to bob, b to alice (each reaches its user only through replication), and both broadcast. */
  round: () => Promise<Sent[]>
  /** Sends round after round, `pauseMs` apart, until the returned `stop()` (or the scope's cleanup) ends it. */
  keepSending: (pauseMs: number) => () => Promise<void>
}

/** A Mesa server with sync on `adapter`, recording the adapter's errors and readies. */
async function node(scope: Scope, redis: RedisAdapter): Promise<Node> {
  const adapter = scope.add(redis, (a) => a.close())
  const errors: Error[] = []
  const readies: number[] = []
  adapter.on('error', (error) => errors.push(error))
  adapter.on('ready', () => readies.push(errors.length))
  const mesa = scope.add(new Mesa({ port: 0, host: '127.0.0.1', adapter, sync: { enabled: true } }), (m) => m.close())
  mesa.on('connection', (client) => client.authenticate((data, done) => done(null, { id: String(data.id), user: {} })))
  await mesa.listening()
  return { adapter, mesa, url: `ws://127.0.0.1:${mesa.port}`, errors, readies }
}

/** An authenticated client-node client recording the `n` of every message it gets, every disconnect and resync. */
async function user(scope: Scope, url: string, id: string): Promise<User> {
  const client = scope.add(new Client(url), (c) => c.disconnect())
  const got: number[] = []
  const drops: number[] = []
  const resyncs: User['resyncs'] = []
  client.on('message', (message) => got.push((message.data as Payload).n))
  client.on('disconnected', (code: number) => drops.push(code))
  client.on('resync', (reason, streams) => resyncs.push({ reason, streams, at: got.length }))
  await client.authenticate({ id })
  return { got, drops, resyncs }
}

/**
 * Servers a and b, each on an adapter from `adapter()`; alice on a, bob on b; five rounds sent and received,
 * so replication works before the test disturbs Redis.
 */
export async function twoServers(scope: Scope, adapter: () => RedisAdapter): Promise<TwoServers> {
  const a = await node(scope, adapter())
  const b = await node(scope, adapter())
  const alice = await user(scope, a.url, 'alice')
  const bob = await user(scope, b.url, 'bob')

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
  const keepSending = (pauseMs: number) => {
    let flowing = true
    const traffic = (async () => {
      while (flowing) {
        await round()
        await delay(pauseMs)
      }
    })()
    const stop = async () => {
      flowing = false
      await traffic
    }
    scope.defer(stop)
    return stop
  }
  return { a, b, alice, bob, sends, round, keepSending }
}

/** The `n` of each entry of `stream` after `seq` (all by default), in sequence order, as `adapter`'s store holds them. */
async function stored(adapter: RedisAdapter, stream: string, seq = 0): Promise<number[]> {
  const { epoch } = await adapter.store.head(stream)
  const read = await adapter.store.readAfter(stream, { epoch, seq })
  if (read.status !== 'ok') throw new Error(`${stream}: ${read.status}`)
  return read.entries.map((entry) => (JSON.parse(entry.frame) as { d: Payload }).d.n)
}

/** What each target's stream holds, read through `adapter`. */
export async function storedByTarget(adapter: RedisAdapter): Promise<Record<Target, number[]>> {
  return {
    alice: await stored(adapter, userStream('alice')),
    bob: await stored(adapter, userStream('bob')),
    '*': await stored(adapter, GLOBAL_STREAM),
  }
}

/**
 * Each stream holds every send to its target once. Both servers broadcast at once: the global stream's order
 * is the order their appends ran in, so the streams are compared sorted.
 */
export function expectEachSendStoredOnce(streams: Record<Target, number[]>, sends: Sent[]): void {
  for (const target of ['alice', 'bob', '*'] as const) {
    const sorted = [...streams[target]].sort((x, y) => x - y)
    expect(sorted).toEqual(sends.filter((s) => s.target === target).map((s) => s.n))
  }
}

/**
 * Each client got exactly what its streams hold, once each and in order, and its websocket never dropped.
 */
export function expectDelivered({ alice, bob }: TwoServers, streams: Record<Target, number[]>): void {
  for (const [client, own] of [
    [alice, streams.alice],
    [bob, streams.bob],
  ] as const) {
    const only = (stream: number[]) => client.got.filter((n) => stream.includes(n))
    expect(only(own)).toEqual(own)
    expect(only(streams['*'])).toEqual(streams['*'])
    expect(client.got).toHaveLength(own.length + streams['*'].length)
    expect(client.drops).toEqual([])
  }
}

/**
 * After the store started new epochs (a failover): each client was told to resync because of them, dropping
 * its websocket once or more on the way; since its last resync it got exactly what its streams hold after the
 * heads that resync announced, once each and in order; and it never got a message twice.
 */
export async function expectResynced({ alice, bob }: TwoServers, adapter: RedisAdapter): Promise<void> {
  await expectClientResynced(alice, 'alice', adapter)
  await expectClientResynced(bob, 'bob', adapter)
}

/**
 * After a failover of only the shards (Cluster masters) that hold the streams of `failedOver`: each client
 * with a stream there resynced as `expectResynced` requires; each other client was not disturbed at all (no
 * resync, no drop) and got exactly what its streams hold, once each and in order.
 */
export async function expectResyncedWhere(
  { alice, bob }: TwoServers,
  adapter: RedisAdapter,
  failedOver: ReadonlySet<Target>,
): Promise<void> {
  for (const [client, id] of [
    [alice, 'alice'],
    [bob, 'bob'],
  ] as const) {
    if (failedOver.has(id) || failedOver.has('*')) {
      await expectClientResynced(client, id, adapter)
      continue
    }
    expect(client.resyncs, `${id}: resyncs`).toEqual([])
    expect(client.drops, `${id}: dropped websockets`).toEqual([])
    const own = await stored(adapter, userStream(id))
    const global = await stored(adapter, GLOBAL_STREAM)
    expect(client.got.filter((n) => own.includes(n))).toEqual(own)
    expect(client.got.filter((n) => global.includes(n))).toEqual(global)
    expect(client.got).toHaveLength(own.length + global.length)
  }
}

async function expectClientResynced(client: User, id: 'alice' | 'bob', adapter: RedisAdapter): Promise<void> {
  expect(client.resyncs.length, `${id}: resyncs`).toBeGreaterThan(0)
  expect(client.resyncs.every((r) => r.reason === 'epoch-changed')).toBe(true)
  expect(client.drops.length).toBeGreaterThan(0)
  expect(new Set(client.got).size).toBe(client.got.length)
  const last = client.resyncs.at(-1)!
  const after = client.got.slice(last.at)
  const since = async (kind: StreamKind, stream: string) => {
    const head = last.streams[kind]
    expect(head, `${id}: the ${kind} head its resync announced`).toBeDefined()
    return stored(adapter, stream, head!.seq)
  }
  const own = await since('user', userStream(id))
  const global = await since('global', GLOBAL_STREAM)
  expect(after.filter((n) => own.includes(n))).toEqual(own)
  expect(after.filter((n) => global.includes(n))).toEqual(global)
  expect(after).toHaveLength(own.length + global.length)
}

/** A round sent now reaches bob from a and alice from b, and both broadcasts reach both clients, live. */
export async function expectRoundDelivered({ alice, bob, round }: TwoServers): Promise<void> {
  const last = await round()
  expect(last.map((s) => s.outcome)).toEqual(['sent', 'sent', 'sent', 'sent'])
  const [toBob, toAlice, fromA, fromB] = last.map((s) => s.n) as [number, number, number, number]
  await waitFor('the last round', () => alice.got.includes(toAlice) && bob.got.includes(toBob))
  await waitFor('both last broadcasts', () => [alice, bob].every(({ got }) => got.includes(fromA) && got.includes(fromB)))
}
