import type { ResyncReason } from '@mesa/core'
import { GLOBAL_STREAM, MemoryAdapter, userStream } from '@mesa/core/server'
import { Client, type Message } from '@mesa/client-node'
import { Message as ServerMessage } from '@mesa/server'
import { afterEach, describe, expect, it } from 'vitest'
import { Scope, waitFor, withTimeout } from '@mesa/test-kit'
import { startServer } from '../compat/support.js'
import { random } from './chaos-support.js'

/**
 * The in-memory store under a long stream driven through the server: whatever is sent, each stream keeps at
 * most `maxEntries` entries, none older than `maxAgeMs`, and streams that went idle are emptied; the clients
 * that stayed connected still get everything, and one that was away past the retained history is told so.
 */

const USERS = 40
const SENDS = 20_000
const BATCH = 50
const MAX_ENTRIES = 100
const MAX_AGE_MS = 10_000
/** Fake ms per send: the stream spans twice the retention age. */
const TICK = (2 * MAX_AGE_MS) / SENDS

const scope = new Scope()
afterEach(() => scope.cleanup())

describe('in-memory store bounds', () => {
  it(`${SENDS} sends to ${USERS} users: every stream within ${MAX_ENTRIES} entries and ${MAX_AGE_MS} ms`, async () => {
    let clock = 1_000_000
    const adapter = new MemoryAdapter({ retention: { maxEntries: MAX_ENTRIES, maxAgeMs: MAX_AGE_MS }, now: () => clock })
    const store = adapter.store
    const server = await startServer(scope, { adapter, sync: { enabled: true } })
    const ids = Array.from({ length: USERS }, (_, i) => `u${i}`)
    const streams = [GLOBAL_STREAM, ...ids.map(userStream)]

    // Connected for the whole stream: u0..u3. Away after its first authentication: u4.
    const live = ids.slice(0, 4).map((id) => {
      const client = new Client(server.url)
      scope.defer(() => client.disconnect())
      const seen: number[] = []
      client.on('message', (message: Message) => {
        if (message.type === 'T') seen.push(message.sequence!)
      })
      return { id, client, seen }
    })
    await withTimeout('the live clients to authenticate', Promise.all(live.map(({ client, id }) => client.authenticate({ id }))))
    const away = new Client(server.url)
    await withTimeout('u4 to authenticate', away.authenticate({ id: 'u4' }))
    const positions = away.positions
    away.disconnect()

    const rng = random(7)
    const sentTo = new Map(ids.map((id) => [id, 0]))
    let largestStream = 0
    let largestTotal = 0
    for (let first = 1; first <= SENDS; first += BATCH) {
      const batch: Promise<void>[] = []
      for (let m = first; m < first + BATCH; m++) {
        clock += TICK
        if (m % 10 === 0) {
          batch.push(server.mesa.send(new ServerMessage(0, { m }, 'B'), ['*']))
        } else {
          // A quarter of the users get most of the traffic; the rest now and then.
          const id = ids[rng.chance(0.8) ? rng.int(USERS / 4) : rng.int(USERS)]!
          sentTo.set(id, sentTo.get(id)! + 1)
          batch.push(server.mesa.send(new ServerMessage(0, { m }, 'T'), [id]))
        }
      }
      await Promise.all(batch)
      for (const stream of streams) largestStream = Math.max(largestStream, store.size(stream))
      const total = store.totalSize()
      largestTotal = Math.max(largestTotal, total)
      // Bounded at every point of the stream, not just at its end.
      expect(total).toBeLessThanOrEqual(streams.length * MAX_ENTRIES)
    }

    expect(largestStream).toBe(MAX_ENTRIES)
    expect(largestTotal).toBeLessThanOrEqual(streams.length * MAX_ENTRIES)
    // Heads outlive the trimmed entries.
    for (const id of ids) expect((await store.head(userStream(id))).seq).toBe(sentTo.get(id))
    expect((await store.head(GLOBAL_STREAM)).seq).toBe(SENDS / 10)

    // Age: once no stream got anything for longer than maxAgeMs, one more send leaves only itself stored.
    clock += MAX_AGE_MS + 1
    await server.mesa.send(new ServerMessage(0, { m: SENDS + 1 }, 'T'), ['u0'])
    sentTo.set('u0', sentTo.get('u0')! + 1)
    expect(store.totalSize()).toBe(1)
    expect(store.size(userStream('u0'))).toBe(1)

    // The connected clients got every message of their streams, in order, trimming or not.
    for (const { id, seen } of live) {
      await waitFor(`all messages of ${id}`, () => seen.length >= sentTo.get(id)!, 20_000)
      expect(seen).toEqual(Array.from({ length: sentTo.get(id)! }, (_, i) => i + 1))
    }

    // The client that was away is told its history is gone, and starts from the heads.
    expect(sentTo.get('u4')!).toBeGreaterThan(MAX_ENTRIES)
    const back = new Client(server.url, { positions })
    scope.defer(() => back.disconnect())
    const resyncs: (ResyncReason | undefined)[] = []
    back.on('resync', (reason) => resyncs.push(reason))
    const replayed: unknown[] = []
    back.on('message', (message: Message) => replayed.push(message.data))
    const result = new Promise((resolve) => back.once('authenticated', resolve))
    await withTimeout('u4 to authenticate again', back.authenticate({ id: 'u4' }))
    expect(await result).toMatchObject({ recovered: false, reason: 'trimmed' })
    expect(resyncs).toEqual(['trimmed'])
    expect(back.positions.user?.seq).toBe(sentTo.get('u4'))
    expect(replayed).toEqual([])
  }, 60_000)
})
