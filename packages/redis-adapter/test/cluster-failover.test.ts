import { AdapterError, StoreError } from '@mesa/core'
import { GLOBAL_STREAM, userStream } from '@mesa/core/server'
import { afterEach, describe, expect, it } from 'vitest'
import { RedisAdapter } from '../src/index.js'
import { createKeys } from '../src/keys.js'
import { delay, RedisCluster, Scope, waitFor } from '@mesa/test-kit'
import { expectResyncedWhere, expectRoundDelivered, type Target, twoServers } from './support/two-servers.js'

const scope = new Scope()
afterEach(() => scope.cleanup())

// In this namespace alice's stream, bob's and the global one hash to three different shards.
const NAMESPACE = 'failover'
const STREAMS: Record<Target, string> = { alice: userStream('alice'), bob: userStream('bob'), '*': GLOBAL_STREAM }

/**
 * Three masters with a replica each (a master unreachable for 1 s is failed over); servers a and b on adapters
 * on the cluster, alice on a and bob on b (`twoServers`); the shard that holds `target`'s stream, and the
 * checks both failovers end with.
 */
async function setup(target: Target) {
  const cluster = scope.add(await RedisCluster.start({ replicas: 1, nodeTimeoutMs: 1000 }), (c) => c.destroy())
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown) => unhandled.push(reason)
  process.on('unhandledRejection', onUnhandled)
  scope.defer(() => void process.off('unhandledRejection', onUnhandled))
  const adapter = () => new RedisAdapter({ cluster: cluster.startupNodes }, { namespace: NAMESPACE })
  const servers = await twoServers(scope, adapter)
  const { a, b, alice, bob, round, sends } = servers

  const keys = createKeys(NAMESPACE)
  const slotOf = (t: Target) => cluster.slotOf(keys.streamEntries(STREAMS[t]))
  const slot = await slotOf(target)
  const shard = await cluster.shardOf(slot)
  const replica = shard.replicas[0]!
  // The streams whose head lives on the failed-over shard: their clients must resync, the others not.
  const failedOver = new Set<Target>()
  for (const t of ['alice', 'bob', '*'] as const) {
    if ((await cluster.shardOf(await slotOf(t))) === shard) failedOver.add(t)
  }
  expect(failedOver).toEqual(new Set([target]))
  const resyncing = [alice, bob].filter((_, i) => failedOver.has('*') || failedOver.has(i === 0 ? 'alice' : 'bob'))

  /**
   * The replica owns the slot in every live node's view and says it is a master; and both adapters subscribed
   * again to the replication channels it now serves. Redis drops the subscriptions of a master that is
   * replaced (or dies); the adapters' subscriber connections find the new owner when they next re-read the slot
   * map. Envelopes published meanwhile are lost live and reach their recipients with the next message of their
   * stream: the last round, sent after this, has no next message.
   */
  const waitForPromotion = async () => {
    await waitFor('the replica to be promoted', async () => (await cluster.ownerOf(slot)) === replica.port, 15_000, 50)
    expect(await cluster.roleOf(replica)).toBe('master')
    const channels = Array.from({ length: 16 }, (_, i) => keys.replicationChannel(i))
    await waitFor(
      'both adapters to subscribe to every channel on its owner',
      async () => (await Promise.all(channels.map((c) => cluster.subscribers(c)))).every((n) => n === 2),
      10_000,
      50,
    )
  }

  /**
   * Replication works: once the clients of the failed-over streams resynced, a round sent now reaches bob from
   * a and alice from b, live. The first message of a new epoch is what shows a server that its sockets'
   * history changed, so with no traffic since the failover one round goes first.
   */
  const checkLastRound = async () => {
    if (resyncing.some((c) => c.resyncs.length === 0)) await round()
    await waitFor(
      'the clients of the failed-over shard to resync',
      () => resyncing.every((c) => c.resyncs.length > 0),
      10_000,
    )
    await expectRoundDelivered(servers)
  }

  /**
   * Every send settled, resolved or rejected with StoreError or AdapterError; a StoreError's message reached
   * nobody. The clients of the failed-over streams resynced to the new epochs and since then got every message
   * once, in order; the other client was not disturbed. Nothing was left unhandled.
   */
  const checkOutcome = async () => {
    expect(sends.filter((s) => s.outcome === 'pending')).toEqual([])
    const failed = sends.filter((s) => s.outcome !== 'sent')
    expect(failed.filter((s) => !(s.outcome instanceof StoreError || s.outcome instanceof AdapterError))).toEqual([])
    const unstored = failed.filter((s) => s.outcome instanceof StoreError).map((s) => s.n)
    for (const client of [alice, bob]) expect(client.got.filter((n) => unstored.includes(n))).toEqual([])
    await expectResyncedWhere(servers, a.adapter, failedOver)
    // What the adapters reported (a subscriber or command connection lost) are AdapterError events.
    expect([...a.errors, ...b.errors].filter((e) => !(e instanceof AdapterError))).toEqual([])
    expect(unhandled).toEqual([])
  }

  return { cluster, servers, shard, replica, waitForPromotion, checkLastRound, checkOutcome }
}

describe('RedisAdapter through a Cluster master failover', () => {
  it("CLUSTER FAILOVER of the global stream's master: every send resolves, replication goes on, both clients resync to the new epoch and get every later message once, in order", async () => {
    const { cluster, servers, replica, waitForPromotion, checkLastRound, checkOutcome } = await setup('*')
    const stopSending = servers.keepSending(20)
    await delay(100)
    await cluster.failover(replica)
    await waitForPromotion()
    // Traffic goes on past the switch.
    const count = servers.sends.length
    await waitFor('more sends', () => servers.sends.length > count + 8, 10_000)
    await stopSending()

    await checkLastRound()
    await checkOutcome()
    // The old master held the writes while its replica caught up, then answered MOVED: ioredis followed.
    expect(servers.sends.filter((s) => s.outcome !== 'sent')).toEqual([])
  }, 30_000)

  it("kill -9 of the master of alice's stream: its replica takes over, every send resolves or rejects with a typed error, replication resumes, alice resyncs to the new epoch and bob is not disturbed", async () => {
    const { cluster, servers, shard, waitForPromotion, checkLastRound, checkOutcome } = await setup('alice')
    const { sends } = servers
    const stopSending = servers.keepSending(20)
    await delay(100)
    // The master stalls before it dies, so that sends are certainly in flight (written, unanswered) when it
    // does.
    await cluster.pauseWrites(shard.master, 10_000)
    await waitFor('the replica to catch up', () => cluster.caughtUp(shard.replicas[0]!), 5000)
    await waitFor('sends in flight', () => sends.some((s) => s.outcome === 'pending'))
    const inFlight = sends.filter((s) => s.outcome === 'pending')
    expect(inFlight.length).toBeGreaterThan(0)
    await shard.master.stop('SIGKILL')

    await waitForPromotion()
    await waitFor('sends to succeed again', () => sends.slice(-8).every((s) => s.outcome === 'sent'), 10_000)
    await stopSending()

    await checkLastRound()
    await checkOutcome()
    // Both adapters reported losing the master's node, and ready once every master was connected again.
    for (const { errors, readies } of [servers.a, servers.b]) {
      expect(errors.some((e) => /node 127\.0\.0\.1:\d+/.test(e.message))).toBe(true)
      await waitFor('a ready after the last error', () => readies.at(-1) === errors.length, 10_000)
    }
  }, 30_000)
})
