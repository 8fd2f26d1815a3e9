import { GLOBAL_STREAM, userStream } from '@mesa/core'
import { Client, Message } from '@mesa/client-node'
import { Mesa } from '@mesa/server'
import { afterEach, describe, expect, it } from 'vitest'
import { createKeys, RedisAdapter } from '../src/index.js'
import { RedisCluster } from '../../../test/integration/harness/redis-cluster.js'
import { ClusterSlots } from '../../../test/integration/harness/redis-cluster-slots.js'
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
}

interface Sent {
  n: number
  target: Target
  outcome: 'pending' | 'sent' | Error
}

const NAMESPACE = 'reshard'
const CHANNELS = 16

/** A Mesa server with sync on a RedisAdapter on the cluster. */
async function node(cluster: RedisCluster): Promise<Node> {
  const adapter = scope.add(
    new RedisAdapter({ cluster: cluster.startupNodes }, { namespace: NAMESPACE, replicationChannels: CHANNELS }),
    (a) => a.close(),
  )
  const errors: Error[] = []
  adapter.on('error', (error) => errors.push(error))
  const mesa = scope.add(new Mesa({ port: 0, host: '127.0.0.1', adapter, sync: { enabled: true } }), (m) => m.close())
  mesa.on('connection', (client) => client.authenticate((data, done) => done(null, { id: String(data.id), user: {} })))
  await mesa.listening()
  return { adapter, mesa, url: `ws://127.0.0.1:${mesa.port}`, errors }
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

/** The `n` of each entry of `stream`, in sequence order. */
async function stored(adapter: RedisAdapter, stream: string): Promise<number[]> {
  const { epoch } = await adapter.store.head(stream)
  const read = await adapter.store.readAfter(stream, { epoch, seq: 0 })
  if (read.status !== 'ok') throw new Error(`${stream}: ${read.status}`)
  return read.entries.map((entry) => (JSON.parse(entry.frame) as { d: Payload }).d.n)
}

describe('RedisAdapter while the Cluster reshards', () => {
  it('moves the slots of the streams and replication channels in use while messages flow: no send fails, subscriptions follow the slots, clients get every message once and in order', async () => {
    const cluster = scope.add(await RedisCluster.start(), (c) => c.destroy())
    const slots = scope.add(new ClusterSlots(cluster), (s) => s.close())
    const a = await node(cluster)
    const b = await node(cluster)
    const alice = await user(a.url, 'alice')
    const bob = await user(b.url, 'bob')

    const sends: Sent[] = []
    /** a sends to bob, b to alice (each reaches its user only through replication), and both broadcast. */
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

    // Every slot these messages touch: the three streams (entries, head and cursors share one slot each) and
    // the replication channels. Each moves to the next master, key by key, while rounds of sends go on.
    const keys = createKeys(NAMESPACE)
    const channels = Array.from({ length: CHANNELS }, (_, i) => keys.replicationChannel(i))
    const streamKeys = [userStream('alice'), userStream('bob'), GLOBAL_STREAM].map((s) => keys.streamEntries(s))
    const moving = new Map<number, number>()
    for (const key of [...streamKeys, ...channels]) {
      const slot = await slots.slotOf(key)
      moving.set(slot, (await slots.ownerOf(slot))!)
    }
    const redirectionsBefore = await slots.redirections()

    let flowing = true
    const traffic = (async () => {
      while (flowing) {
        await round()
        await delay(5)
      }
    })()
    scope.defer(async () => {
      flowing = false
      await traffic
    })
    const ports = cluster.nodes.map((n) => n.port)
    for (const [slot, from] of moving) {
      await slots.migrate(slot, ports[(ports.indexOf(from) + 1) % ports.length]!, 120)
      await delay(20)
    }
    for (const [slot, from] of moving) expect(await slots.ownerOf(slot)).not.toBe(from)
    // Redis dropped the subscriptions of the moved channels; both adapters subscribe again on the new owners.
    await waitFor(
      'both adapters to subscribe to every channel on its new owner',
      async () => (await Promise.all(channels.map((c) => slots.subscribers(c)))).every((n) => n === 2),
      5000,
      50,
    )
    flowing = false
    await traffic

    // The commands met the slots moving: ioredis followed MOVED and ASK (and retried TRYAGAIN) redirections.
    const redirections = await slots.redirections()
    expect(redirections.MOVED - redirectionsBefore.MOVED).toBeGreaterThan(0)
    expect(redirections.ASK - redirectionsBefore.ASK).toBeGreaterThan(0)
    expect(redirections.TRYAGAIN - redirectionsBefore.TRYAGAIN).toBeGreaterThan(0)

    // Replication goes on live: what a sends reaches bob on b, what b sends reaches alice on a.
    const last = (await round()).map((s) => s.n)
    await waitFor('the last round', () => alice.got.includes(last[1]!) && bob.got.includes(last[0]!))
    await waitFor('both last broadcasts', () =>
      [alice, bob].every(({ got }) => got.includes(last[2]!) && got.includes(last[3]!)),
    )

    // No send failed, and each stream holds each of its messages once.
    expect(sends.filter((s) => s.outcome !== 'sent')).toEqual([])
    const streams: Record<Target, number[]> = {
      alice: await stored(a.adapter, userStream('alice')),
      bob: await stored(a.adapter, userStream('bob')),
      '*': await stored(a.adapter, GLOBAL_STREAM),
    }
    for (const target of ['alice', 'bob', '*'] as const) {
      // Both servers broadcast at once: the global stream's order is the order their appends ran in.
      const sorted = [...streams[target]].sort((x, y) => x - y)
      expect(sorted).toEqual(sends.filter((s) => s.target === target).map((s) => s.n))
    }
    // Each client got exactly what its streams hold, once each and in order (what pub/sub lost while a channel
    // had no subscriber came from the store); the websockets never dropped; the adapters reported nothing.
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
    expect([...a.errors, ...b.errors]).toEqual([])
  }, 30_000)
})
