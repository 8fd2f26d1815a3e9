import { type Envelope, userStream } from '@mesa/core/server'
import { Cluster } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { RedisAdapter } from '../src/index.js'
import { createKeys } from '../src/keys.js'
import { ClusterSlots, RedisCluster, Scope, waitFor } from '@mesa/test-kit'

let cluster: RedisCluster
const scope = new Scope()

beforeAll(async () => {
  cluster = await RedisCluster.start()
}, 60_000)
afterEach(() => scope.cleanup())
afterAll(async () => {
  await cluster?.destroy()
})

function adapter(namespace: string, options: ConstructorParameters<typeof RedisAdapter>[1] = {}): RedisAdapter {
  return scope.add(new RedisAdapter({ cluster: cluster.startupNodes }, { namespace, ...options }), (a) => a.close())
}

const publication = (origin: string, channel: string): Envelope => ({ kind: 'publication', origin, channel, frame: '{}' })

/** The sharded subscribers of each of `channels`' pub/sub channels. */
const subscribersOf = (namespace: string, channels: string[]) =>
  Promise.all(channels.map((channel) => cluster.subscribers(createKeys(namespace).channel(channel))))

const dispatch = (origin: string, user: string): Envelope => ({
  kind: 'dispatch',
  origin,
  frame: `{"op":0,"d":"${user}"}`,
  recipients: [user],
})

/** Which master serves each key: the cluster spreads them when the hash tags differ. */
async function mastersOf(keys: string[]): Promise<Set<number>> {
  const probe = scope.add(new Cluster(cluster.startupNodes), (c) => c.disconnect())
  await probe.ping()
  const masters = new Set<number>()
  for (const key of keys) {
    const slot = (await probe.cluster('KEYSLOT', key)) as number
    const slots = await probe.cluster('SLOTS')
    const owner = slots.find(([from, to]) => slot >= from && slot <= to)
    if (owner?.[2]) masters.add(owner[2][1])
  }
  return masters
}

describe('RedisAdapter on a three-master Redis Cluster', () => {
  it('replicates with sharded pub/sub over channels spread across the shards', async () => {
    const a = adapter('cluster-repl')
    const b = adapter('cluster-repl')
    expect(a.client).toBeInstanceOf(Cluster)
    const got: string[] = []
    await b.subscribe('b', (e) => void got.push(e.kind === 'dispatch' ? e.frame : ''))
    await a.subscribe('a', () => {})
    const users = Array.from({ length: 50 }, (_, i) => `user${i}`)
    for (const user of users) await a.publish(dispatch('a', user))
    await waitFor('every envelope', () => got.length === 50)
    expect(new Set(got).size).toBe(50)
    const channels = Array.from({ length: 16 }, (_, i) => `mesa:cluster-repl:bus:{cluster-repl:bus:${i}}`)
    expect((await mastersOf(channels)).size).toBe(3)
  })

  it('stores streams on hash-tagged keys across shards, appendMany and readAfter included', async () => {
    const a = adapter('cluster-store', { retention: { maxEntries: 5 } })
    const items = Array.from({ length: 60 }, (_, i) => ({ stream: userStream(`u${i % 20}`), entry: { frame: `f${i}` } }))
    const positions = await a.store.appendMany(items)
    expect(positions.map((p) => p.seq)).toEqual(items.map((_, i) => Math.floor(i / 20) + 1))
    const read = await a.store.readAfter(userStream('u3'), { epoch: positions[3]!.epoch, seq: 0 })
    expect(read.status === 'ok' && read.entries.map((e) => e.frame)).toEqual(['f3', 'f23', 'f43'])
    for (let i = 0; i < 10; i++) await a.store.append(userStream('u3'), { frame: `more${i}` })
    expect(await a.store.size(userStream('u3'))).toBe(5)
    expect((await a.store.readAfter(userStream('u3'), positions[3]!)).status).toBe('trimmed')
    await a.store.setCursor(userStream('u3'), 'legacy', 4)
    expect(await a.store.getCursor(userStream('u3'), 'legacy')).toBe(4)
    const keys = Array.from({ length: 20 }, (_, i) => `mesa:cluster-store:stream:{cluster-store:user:u${i}}:e`)
    expect((await mastersOf(keys)).size).toBeGreaterThan(1)
  })

  it('shares presence and the portal queue', async () => {
    const a = adapter('cluster-misc', { presenceTtlMs: 600, portal: { claimIntervalMs: 50, blockMs: 200 } })
    const b = adapter('cluster-misc', { presenceTtlMs: 600, portal: { claimIntervalMs: 50, blockMs: 200 } })
    await a.presence.join('alice', 'a1')
    await b.presence.join('bob', 'b1')
    expect(await b.presence.areOnline(['alice', 'bob', 'carol'])).toEqual([true, true, false])
    expect(await a.presence.onlineCount()).toBe(2)
    const handled: string[] = []
    await b.portal.consume({ consumerId: 'p' }, (e) => void handled.push(e.clientId))
    for (let i = 0; i < 10; i++) await a.portal.push({ kind: 'connection', clientId: `c${i}`, serverId: 'a', time: i })
    await waitFor('portal events', () => handled.length === 10)
  })

  it('routes each channel on sharded pub/sub: subscribed on the master of its slot while an origin follows it, published to its followers only', async () => {
    const namespace = 'cluster-channels'
    const a = adapter(namespace)
    const b = adapter(namespace, { channelLingerMs: 0 })
    const got: string[] = []
    const gotA: string[] = []
    await a.subscribe('a', (e) => void (e.kind === 'publication' && gotA.push(e.channel)))
    await b.subscribe('b', (e) => void (e.kind === 'publication' && got.push(e.channel)))
    const followed = Array.from({ length: 30 }, (_, i) => `room:${i}`)
    const others = Array.from({ length: 30 }, (_, i) => `other:${i}`)
    await b.follow('b', followed)
    expect(await subscribersOf(namespace, followed)).toEqual(followed.map(() => 1))
    expect(await subscribersOf(namespace, others)).toEqual(others.map(() => 0))
    expect((await mastersOf(followed.map((c) => createKeys(namespace).channel(c)))).size).toBe(3)
    for (const channel of [...others, ...followed]) await a.publish(publication('a', channel))
    await waitFor('a publication of every followed channel', () => got.length === followed.length)
    expect(got.sort()).toEqual([...followed].sort())
    expect(gotA).toEqual([])
    await b.unfollow('b', followed)
    await waitFor('the unsubscriptions', async () => (await subscribersOf(namespace, followed)).every((n) => n === 0))
  })

  it('follows a channel to the new owner of its slot', async () => {
    const slots = scope.add(new ClusterSlots(cluster), (s) => s.close())
    const namespace = 'cluster-move'
    const a = adapter(namespace)
    const b = adapter(namespace)
    const got: string[] = []
    await b.subscribe('b', (e) => void (e.kind === 'publication' && got.push(e.channel)))
    await b.follow('b', ['moving'])
    const slot = await cluster.slotOf(createKeys(namespace).channel('moving'))
    const from = (await cluster.ownerOf(slot))!
    const masters = cluster.shards.map((shard) => shard.master.port)
    await slots.migrate(slot, masters[(masters.indexOf(from) + 1) % masters.length]!)
    expect(await cluster.ownerOf(slot)).not.toBe(from)
    await waitFor('the subscription on the new owner', async () => (await subscribersOf(namespace, ['moving']))[0] === 1, 10_000, 50)
    await a.publish(publication('a', 'moving'))
    await waitFor('the publication', () => got.length === 1)
  })

  it('keeps channel presence and deduplicator claims on the shards of their channels and keys', async () => {
    const namespace = 'cluster-channel-presence'
    const a = adapter(namespace, { presenceTtlMs: 600 })
    const b = adapter(namespace, { presenceTtlMs: 600 })
    const channels = Array.from({ length: 12 }, (_, i) => `room:${i}`)
    for (const channel of channels) {
      expect(await a.presence.joinChannel(channel, 'alice', 'a1')).toBe(true)
      expect(await b.presence.joinChannel(channel, 'alice', 'b1')).toBe(false)
      expect(await b.presence.joinChannel(channel, 'bob', 'b2')).toBe(true)
    }
    expect((await mastersOf(channels.map((c) => createKeys(namespace).channelUsers(c)))).size).toBe(3)
    for (const channel of channels) {
      const { users, count } = await a.presence.channelMembers(channel)
      expect({ users: users.sort(), count }).toEqual({ users: ['alice', 'bob'], count: 2 })
    }
    // Closing a takes its sockets off every channel, on whichever shard: b1 is alice's last socket everywhere.
    await a.close()
    for (const channel of channels) expect(await b.presence.leaveChannel(channel, 'alice', 'b1')).toBe(true)
    const keys = Array.from({ length: 12 }, (_, i) => `client:${i}`)
    for (const key of keys) expect(await b.dedupe.begin(key, 10_000)).toBe('new')
    for (const key of keys) await b.dedupe.complete(key, 10_000)
    for (const key of keys) expect(await b.dedupe.begin(key, 10_000)).toBe('done')
    expect((await mastersOf(keys.map((k) => createKeys(namespace).dedupe(k)))).size).toBeGreaterThan(1)
  })

  it('keeps user channels on a slot per user: many users per call, the bound held', async () => {
    const a = adapter('cluster-uc')
    const b = adapter('cluster-uc')
    const users = Array.from({ length: 40 }, (_, i) => `user${i}`)
    expect(await a.userChannels.add('room:1', users, 2)).toEqual([])
    expect(await b.userChannels.add('room:2', users.slice(0, 10), 2)).toEqual([])
    expect(await a.userChannels.add('room:3', users.slice(5, 15), 2)).toEqual(users.slice(5, 10))
    expect((await b.userChannels.channelsOf('user12')).sort()).toEqual(['room:1', 'room:3'])
    await b.userChannels.remove('room:1', users)
    expect(await a.userChannels.channelsOf('user30')).toEqual([])
    expect(await a.userChannels.channelsOf('user7')).toEqual(['room:2'])
    const keys = users.map((user) => createKeys('cluster-uc').channelSubscriptions(user))
    expect((await mastersOf(keys)).size).toBe(3)
  })
  // ioredis emits these at times a failover decides (cluster-failover.test.ts runs real ones, where they came
  // in orders that left the adapter down): here each is emitted on the adapter's own live clients, in order.
  it('counts a lost node only when it is a master, and is back on the next slot map refresh, or once the sharded subscribers are made again', async () => {
    const a = adapter('cluster-health')
    const errors: Error[] = []
    const readies: number[] = []
    a.on('error', (error) => errors.push(error))
    a.on('ready', () => readies.push(errors.length))
    await a.subscribe('a', () => {})
    const client = a.client as Cluster
    const subscriber = (a as unknown as { subscriber: { client: Cluster } }).subscriber.client
    await waitFor('both clients ready', () => client.status === 'ready' && subscriber.status === 'ready')
    // ioredis connects to a node on its first command: every master connected, as they are under traffic.
    await Promise.all(client.nodes('master').map((node) => node.ping()))

    // After a failover the dead master is listed as a replica until the cluster marks it failed, and a slot map
    // refresh, which asks a node picked at random, may try it: no outage.
    client.emit('node error', new Error('connect ECONNREFUSED 127.0.0.1:1'), '127.0.0.1:1')
    expect(errors).toEqual([])
    // A master lost: an outage until a refresh finds it (or a replica in its place) ready.
    const master = client.nodes('master')[0]!
    client.emit('node error', new Error('read ECONNRESET'), `${master.options.host}:${master.options.port}`)
    expect(errors.map((error) => error.message)).toEqual([expect.stringMatching(/^Redis command connection: node 127\.0\.0\.1:\d+: read ECONNRESET/)])
    client.refreshSlotsCache()
    await waitFor('ready after the refresh', () => readies.length === 1)
    expect(readies).toEqual([1])

    // A shard's subscriber that failed to connect: the client's error, and no `ready` to follow while the client
    // stays ready; back (its channels subscribed again) once ioredis has made the subscribers again.
    subscriber.emit('error', new Error('Connection is closed.'))
    expect(errors).toHaveLength(2)
    subscriber.emit('subscribersReady')
    await waitFor('ready after the subscribers', () => readies.length === 2)
    expect(readies).toEqual([1, 2])
  })
})
