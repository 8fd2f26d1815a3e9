import { AdapterError, type MesaError, StoreError } from '@mesa/core'
import { type DispatchEnvelope, type PortalEvent, userStream } from '@mesa/core/server'
import { RedisCluster, RedisServer, rejectionOf, Scope, waitFor, withTimeout } from '@mesa/test-kit'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import { RedisAdapter, type RedisAdapterOptions } from '../src/index.js'

const scope = new Scope()
const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)
beforeAll(() => void process.on('unhandledRejection', onUnhandled))
afterEach(() => scope.cleanup())
afterAll(() => void process.off('unhandledRejection', onUnhandled))

/** Well above what a command takes on a loaded machine, so only the pause makes commands time out. */
const TIMEOUT_MS = 1000
/** A call that waits for a paused Redis instead of timing out fails the test at this deadline. */
const SETTLE_MS = 6000

interface Watched {
  adapter: RedisAdapter
  errors: Error[]
  readies: () => number
}

function watched(connection: ConstructorParameters<typeof RedisAdapter>[0], options: RedisAdapterOptions): Watched {
  const adapter = scope.add(new RedisAdapter(connection, { commandTimeoutMs: TIMEOUT_MS, ...options }), (a) =>
    a.close(),
  )
  const errors: Error[] = []
  let readies = 0
  adapter.on('error', (error) => errors.push(error))
  adapter.on('ready', () => readies++)
  return { adapter, errors, readies: () => readies }
}

/** What `call` rejects with, within SETTLE_MS (a call that resolves, or still waits then, fails the test). */
const rejection = (what: string, call: Promise<unknown>) => rejectionOf<MesaError>(what, call, SETTLE_MS)

const dispatch = (n: number): DispatchEnvelope => ({ kind: 'dispatch', origin: 'a', frame: `{"op":0,"d":{"n":${n}}}` })
const event = (clientId: string): PortalEvent => ({ kind: 'connection', clientId, serverId: 'a', time: 0 })

async function frames(adapter: RedisAdapter, stream: string): Promise<string[]> {
  const head = await adapter.store.head(stream)
  const read = await adapter.store.readAfter(stream, { epoch: head.epoch, seq: 0 })
  if (read.status !== 'ok') throw new Error(`${stream}: ${read.status}`)
  return read.entries.map((entry) => entry.frame)
}

describe('RedisAdapter when Redis hangs (SIGSTOP) and comes back (SIGCONT)', () => {
  it('rejects calls with typed timeouts, reports the stall once, and loses nothing it stored', async () => {
    const redis = scope.add(await RedisServer.start(), (r) => r.destroy())
    const options: RedisAdapterOptions = { namespace: 'stall', portal: { claimIntervalMs: 50, blockMs: 200 } }
    const a = watched(redis.url, options)
    const b = watched(redis.url, options)
    const received: string[] = []
    await b.adapter.subscribe('b', (e) => void received.push(e.kind === 'dispatch' ? e.frame : ''))
    const handled: string[] = []
    await b.adapter.portal.consume({ consumerId: 'portal' }, (e) => void handled.push(e.clientId))
    await a.adapter.store.append('user:s', { frame: 'before 1' })
    await a.adapter.store.append('user:s', { frame: 'before 2' })
    await a.adapter.portal.push(event('before'))
    await waitFor('the event before the pause', () => handled.includes('before'))

    const errorsBefore = a.errors.length
    const readiesBefore = a.readies()
    redis.pause()
    scope.defer(() => redis.resume())
    // The first call waits commandTimeoutMs; later ones are rejected at once until Redis answers again.
    const stored = await rejection('append', a.adapter.store.append('user:s', { frame: 'during' }))
    expect(stored).toBeInstanceOf(StoreError)
    expect(stored.code).toBe('store-timeout')
    expect(await rejection('readAfter', a.adapter.store.head('user:s'))).toMatchObject({ code: 'store-timeout' })
    const published = await rejection('publish', a.adapter.publish(dispatch(1)))
    expect(published).toBeInstanceOf(AdapterError)
    expect(published.code).toBe('adapter-timeout')
    expect(await rejection('join', a.adapter.presence.join('pat', 'p-socket'))).toMatchObject({
      name: 'AdapterError',
      code: 'adapter-timeout',
    })
    expect(await rejection('push', a.adapter.portal.push(event('during')))).toMatchObject({ code: 'adapter-timeout' })
    expect(await rejection('begin', a.adapter.dedupe.begin('c:1', 10_000))).toMatchObject({
      name: 'AdapterError',
      code: 'adapter-timeout',
    })
    expect(await rejection('joinChannel', a.adapter.presence.joinChannel('room', 'pat', 'p-socket'))).toMatchObject({
      name: 'AdapterError',
      code: 'adapter-timeout',
    })
    // A follow waits for Redis to confirm the subscription, on the subscriber connection, within the same bound.
    expect(await rejection('follow', a.adapter.follow('a', ['room']))).toMatchObject({
      name: 'AdapterError',
      code: 'adapter-timeout',
    })
    const stalls = a.errors.slice(errorsBefore).filter((e) => /command connection/.test(e.message))
    expect(stalls).toHaveLength(1)
    expect(stalls[0]).toMatchObject({ name: 'AdapterError', code: 'adapter-timeout' })
    expect(a.readies()).toBe(readiesBefore)

    redis.resume()
    await waitFor('ready once Redis answers', () => a.readies() > readiesBefore)
    await a.adapter.store.append('user:s', { frame: 'after' })
    // Stored before the pause, and after; the append that timed out may have been carried out when Redis woke.
    expect((await frames(a.adapter, 'user:s')).filter((f) => f !== 'during')).toEqual(['before 1', 'before 2', 'after'])
    await a.adapter.publish(dispatch(2))
    await waitFor('replication', () => received.includes(dispatch(2).frame))
    // The join that timed out is registered again from the adapter's own record, in the channel as well.
    await waitFor('presence reconciled', async () => (await a.adapter.presence.areOnline(['pat']))[0] === true)
    await waitFor('channel presence reconciled', async () => (await a.adapter.presence.channelMembers('room')).count === 1)
    // The follow that timed out was taken back: the subscription Redis carried out when it woke is undone, and
    // following again works.
    const admin = scope.add(new Redis(redis.url), (r) => r.disconnect())
    await waitFor('the stray subscription to be undone', async () => {
      const [, count] = (await admin.pubsub('NUMSUB', 'mesa:stall:ch:{stall:ch:room}')) as [string, number]
      return count === 0
    })
    const publications: string[] = []
    await a.adapter.subscribe('a', (e) => void (e.kind === 'publication' && publications.push(e.frame)))
    await a.adapter.follow('a', ['room'])
    await b.adapter.publish({ kind: 'publication', origin: 'b', channel: 'room', frame: 'after' })
    await waitFor('the publication after the pause', () => publications.includes('after'))
    // The claim that timed out may have been made when Redis woke; either way the key is claimed once.
    expect(['new', 'busy']).toContain(await a.adapter.dedupe.begin('c:1', 10_000))
    // The portal's blocking read waited through the pause and carries on.
    await a.adapter.portal.push(event('after'))
    await waitFor('the event after the pause', () => handled.includes('after'))
    expect(handled.filter((id) => id !== 'during')).toEqual(['before', 'after'])
    expect(a.errors.every((e) => e instanceof AdapterError)).toBe(true)
    expect(unhandled).toEqual([])
  })

  it('closes within a bound while Redis hangs', async () => {
    const redis = scope.add(await RedisServer.start(), (r) => r.destroy())
    const a = watched(redis.url, { namespace: 'stall-close', portal: { claimIntervalMs: 50, blockMs: 200 } })
    await a.adapter.portal.consume({ consumerId: 'portal' }, () => {})
    await a.adapter.presence.join('pat', 'p-socket')
    redis.pause()
    scope.defer(() => redis.resume())
    await withTimeout('close', a.adapter.close(), SETTLE_MS)
    expect(unhandled).toEqual([])
  })
})

describe('RedisAdapter on a Cluster one of whose masters hangs', () => {
  let cluster: RedisCluster
  beforeAll(async () => {
    // Long enough a node timeout that the cluster does not fail the paused master over meanwhile.
    cluster = await RedisCluster.start({ nodeTimeoutMs: 30_000 })
  }, 60_000)
  afterAll(() => cluster?.destroy())

  it('times out the calls that master serves while the others go on, and recovers', async () => {
    const a = watched({ cluster: cluster.startupNodes }, { namespace: 'stall-cluster' })
    // Two streams whose keys live on different masters.
    const streams = Array.from({ length: 20 }, (_, i) => userStream(`u${i}`))
    const masterOf = async (stream: string) =>
      (await cluster.shardOf(await cluster.slotOf(`mesa:stall-cluster:stream:{stall-cluster:${stream}}:e`))).master
    const hung = streams[0]!
    const paused = await masterOf(hung)
    let other: string | undefined
    for (const stream of streams) if ((await masterOf(stream)) !== paused) other ??= stream
    await a.adapter.store.append(hung, { frame: 'before' })
    await a.adapter.store.append(other!, { frame: 'before' })

    paused.pause()
    scope.defer(() => paused.resume())
    expect(await rejection('append', a.adapter.store.append(hung, { frame: 'during' }))).toMatchObject({
      code: 'store-timeout',
    })
    expect(a.errors.some((e) => (e as MesaError).code === 'adapter-timeout')).toBe(true)
    // The other masters answer: no call is failed for what one master does.
    await a.adapter.store.append(other!, { frame: 'during' })
    expect(await rejection('append', a.adapter.store.append(hung, { frame: 'during 2' }))).toMatchObject({
      code: 'store-timeout',
    })

    paused.resume()
    await waitFor('ready once the master answers', () => a.readies() > 0)
    await a.adapter.store.append(hung, { frame: 'after' })
    expect((await frames(a.adapter, hung)).filter((f) => !f.startsWith('during'))).toEqual(['before', 'after'])
    expect(await frames(a.adapter, other!)).toEqual(['before', 'during'])
    expect(unhandled).toEqual([])
  })
})
