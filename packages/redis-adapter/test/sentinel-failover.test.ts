import { AdapterError, StoreError } from '@mesa/core'
import { afterEach, describe, expect, it } from 'vitest'
import { RedisAdapter } from '../src/index.js'
import { delay, RedisSentinelGroup, Scope, waitFor } from '@mesa/test-kit'
import { expectResynced, expectRoundDelivered, twoServers } from './support/two-servers.js'

const scope = new Scope()
afterEach(() => scope.cleanup())

/**
 * A master, a replica and three sentinels; servers a and b on adapters through the sentinels, alice on a and
 * bob on b (`twoServers`, whose rounds record every outcome in `sends`); and the checks both failovers end with.
 */
async function setup() {
  const group = scope.add(await RedisSentinelGroup.start({ downAfterMs: 1000, failoverTimeoutMs: 3000 }), (g) =>
    g.destroy(),
  )
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown) => unhandled.push(reason)
  process.on('unhandledRejection', onUnhandled)
  scope.defer(() => void process.off('unhandledRejection', onUnhandled))
  const servers = await twoServers(scope, () => new RedisAdapter(group.connection, { namespace: 'failover' }))
  const { a, b, alice, bob, round } = servers
  const { sends } = servers

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

  /**
   * Replication works: once both clients resynced, a round sent now reaches bob from a and alice from b, live.
   * The first messages of the new epochs are what shows the servers that their sockets' histories changed:
   * the clients resync past them, so with no traffic since the failover one round goes first.
   */
  const checkLastRound = async () => {
    if (alice.resyncs.length === 0 || bob.resyncs.length === 0) await round()
    await waitFor('both clients to resync', () => alice.resyncs.length > 0 && bob.resyncs.length > 0, 10_000)
    await expectRoundDelivered(servers)
  }

  /**
   * The promoted replica cannot know what the dead master acknowledged last, so the store started new epochs:
   * each client was told to resync, and since then got every message of its streams once, in order.
   */
  const checkResynced = async () => {
    await expectResynced(servers, a.adapter)
    expect(unhandled).toEqual([])
  }

  const { keepSending } = servers
  return { group, a, b, alice, bob, sends, keepSending, checkOnPromotedReplica, checkLastRound, checkResynced }
}

describe('RedisAdapter through a Sentinel failover', () => {
  it('kill -9 of the master: reconnects to the promoted replica, replication resumes, every send either resolves or rejects with a typed error, clients resync to the new epochs and get every later message once, in order', async () => {
    const { group, a, b, alice, bob, sends, keepSending, checkOnPromotedReplica, checkLastRound, checkResynced } =
      await setup()

    // Sends keep going, one round at a time, through the whole failover.
    const stopSending = keepSending(20)
    await delay(100)
    // The master stalls before it dies, so that sends are certainly in flight (written, unanswered) when it
    // does.
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
    await stopSending()

    await checkOnPromotedReplica()
    await checkLastRound()
    await checkResynced()

    const failed = sends.filter((s) => s.outcome !== 'sent')
    // Every send settled: resolved, or rejected with StoreError or AdapterError; none is retried later.
    expect(sends.filter((s) => s.outcome === 'pending')).toEqual([])
    expect(failed.filter((s) => !(s.outcome instanceof StoreError || s.outcome instanceof AdapterError))).toEqual([])
    // StoreError: the message was not stored, and nobody got it.
    const unstored = failed.filter((s) => s.outcome instanceof StoreError).map((s) => s.n)
    for (const client of [alice, bob]) expect(client.got.filter((n) => unstored.includes(n))).toEqual([])
    // Sends in flight when the master died were rejected (ioredis gives up on them after its retries) ...
    expect(inFlight.length).toBeGreaterThan(0)
    expect(inFlight.filter((s) => s.outcome === 'sent')).toEqual([])
    // ... and while Redis was unreachable, sends failed fast rather than waiting for the failover.
    const fast = failed.filter((s) => s.outcome instanceof StoreError && /Redis is unreachable/.test(s.outcome.message))
    expect(fast.length).toBeGreaterThan(0)
  }, 30_000)

  it('SENTINEL FAILOVER: leaves the old master as soon as Sentinel announces the new one, before Sentinel demotes it, and carries on there in new epochs', async () => {
    const { group, a, b, sends, checkOnPromotedReplica, checkLastRound, checkResynced } = await setup()
    await waitFor('the replica to catch up', () => group.replicaCaughtUp(), 5000)
    await group.failover()
    await waitFor('both adapters to be ready again', () => a.readies.length > 0 && b.readies.length > 0, 10_000)
    // The old master is alive and still a master: Sentinel reconfigures it as a replica seconds later. Until
    // then it accepts writes that are lost when it is reconfigured, so the adapters must not wait for that.
    expect(await group.roleOf(group.master)).toBe('master')
    expect(await group.masterPort()).toBe(group.replica.port)

    await checkOnPromotedReplica()
    await checkLastRound()
    await checkResynced()
    expect(sends.filter((s) => s.outcome !== 'sent')).toEqual([])
  }, 30_000)
})
