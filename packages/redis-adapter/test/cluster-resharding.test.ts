import { GLOBAL_STREAM, userStream } from '@mesa/core/server'
import { afterEach, describe, expect, it } from 'vitest'
import { RedisAdapter } from '../src/index.js'
import { createKeys } from '../src/keys.js'
import { ClusterSlots, delay, RedisCluster, Scope, waitFor } from '@mesa/test-kit'
import { expectDelivered, expectEachSendStoredOnce, storedByTarget, twoServers } from './support/two-servers.js'

const scope = new Scope()
afterEach(() => scope.cleanup())

const NAMESPACE = 'reshard'
const CHANNELS = 16

describe('RedisAdapter while the Cluster reshards', () => {
  it('moves the slots of the streams and replication channels in use while messages flow: no send fails, subscriptions follow the slots, clients get every message once and in order', async () => {
    const cluster = scope.add(await RedisCluster.start(), (c) => c.destroy())
    const slots = scope.add(new ClusterSlots(cluster), (s) => s.close())
    const servers = await twoServers(
      scope,
      () => new RedisAdapter({ cluster: cluster.startupNodes }, { namespace: NAMESPACE, replicationChannels: CHANNELS }),
    )
    const { a, b, alice, bob, sends, round } = servers

    // Every slot these messages touch: the three streams (entries, head and cursors share one slot each) and
    // the replication channels. Each moves to the next master, key by key, while rounds of sends go on.
    const keys = createKeys(NAMESPACE)
    const channels = Array.from({ length: CHANNELS }, (_, i) => keys.replicationChannel(i))
    const streamKeys = [userStream('alice'), userStream('bob'), GLOBAL_STREAM].map((s) => keys.streamEntries(s))
    const moving = new Map<number, number>()
    for (const key of [...streamKeys, ...channels]) {
      const slot = await cluster.slotOf(key)
      moving.set(slot, (await cluster.ownerOf(slot))!)
    }
    const redirectionsBefore = await slots.redirections()

    const stopSending = servers.keepSending(5)
    const ports = cluster.nodes.map((n) => n.port)
    for (const [slot, from] of moving) {
      await slots.migrate(slot, ports[(ports.indexOf(from) + 1) % ports.length]!, 120)
      await delay(20)
    }
    for (const [slot, from] of moving) expect(await cluster.ownerOf(slot)).not.toBe(from)
    // Redis dropped the subscriptions of the moved channels; both adapters subscribe again on the new owners.
    await waitFor(
      'both adapters to subscribe to every channel on its new owner',
      async () => (await Promise.all(channels.map((c) => cluster.subscribers(c)))).every((n) => n === 2),
      5000,
      50,
    )
    await stopSending()

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
    const streams = await storedByTarget(a.adapter)
    expectEachSendStoredOnce(streams, sends)
    // Each client got exactly what its streams hold, once each and in order (what pub/sub lost while a channel
    // had no subscriber came from the store); the websockets never dropped; the adapters reported nothing.
    expectDelivered(servers, streams)
    expect([...a.errors, ...b.errors]).toEqual([])
  }, 30_000)
})
