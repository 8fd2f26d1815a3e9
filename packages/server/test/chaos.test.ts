import { type Adapter, MemoryAdapter } from '@mesa/core/server'
import { describe, expect, it, vi } from 'vitest'
import type { RawClient } from '@mesa/test-kit'
import { Message, Mesa } from '../src/index.js'
import { publishingThrough, track } from './helpers.js'
import { syncServer, Tracker } from './tracker.js'

const USERS = 30
const MESSAGES = 1500
const KILLS = 150

interface Node {
  mesa: Mesa
  url: string
}

/**
 * Sends MESSAGES synced messages (odd: targeted to every user by id, even: `['*']`) through the given servers in
 * turn, killing a random user's socket every few messages and reconnecting it to a random server; then checks
 * that every user got each message exactly once, in order per stream. Resolves with the number of kills.
 */
async function chaos(nodes: Node[]): Promise<number> {
  const ids = Array.from({ length: USERS }, (_, i) => `user-${i}`)
  const trackers = ids.map(() => new Tracker())
  let random = 42
  const next = (n: number): number => {
    random = (random * 1103515245 + 12345) % 2 ** 31
    return random % n
  }
  const sockets: RawClient[] = await Promise.all(ids.map((id, i) => trackers[i]!.connect(nodes[i % nodes.length]!.url, id)))

  let kills = 0
  const reconnecting = new Map<number, Promise<void>>()
  const kill = (i: number): void => {
    if (reconnecting.has(i)) return
    const victim = sockets[i]!
    trackers[i]!.detach()
    victim.terminate()
    kills++
    reconnecting.set(
      i,
      trackers[i]!.connect(nodes[next(nodes.length)]!.url, ids[i]!).then((socket) => {
        sockets[i] = socket
        reconnecting.delete(i)
      }),
    )
  }

  const sends: Promise<void>[] = []
  for (let n = 1; n <= MESSAGES; n++) {
    // Consecutive messages of each stream alternate between servers.
    const sender = nodes[(n >> 1) % nodes.length]!.mesa
    const sent = sender.send(new Message(0, { n }, 'CHAOS'), n % 2 ? ids : ['*'])
    sends.push(sent)
    if (n % (MESSAGES / KILLS) === 0) {
      await sent
      kill(next(USERS))
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  await Promise.all(sends)
  await Promise.all(reconnecting.values())
  expect(kills).toBeGreaterThan(KILLS / 2)

  const odd = Array.from({ length: MESSAGES / 2 }, (_, i) => 2 * i + 1)
  const even = odd.map((n) => n + 1)
  for (const [i, tracker] of trackers.entries()) {
    await sockets[i]!.waitFor(`all messages for ${ids[i]}`, () => tracker.delivered.length >= MESSAGES, 20_000)
    const numbers = tracker.numbers()
    expect(numbers).toHaveLength(MESSAGES)
    expect(numbers.filter((n) => n % 2 === 1)).toEqual(odd)
    expect(numbers.filter((n) => n % 2 === 0)).toEqual(even)
  }
  return kills
}

/** The adapter, with every publish held back 0-3 ms at random: envelopes from two servers arrive out of order. */
function delayedPublishing(inner: MemoryAdapter): Adapter {
  let random = 7
  const delay = (): number => {
    random = (random * 1103515245 + 12345) % 2 ** 31
    return random % 4
  }
  return publishingThrough(inner, (envelope) =>
    new Promise<void>((resolve, reject) => setTimeout(() => inner.publish(envelope).then(resolve, reject), delay())),
  )
}

describe('redelivery under chaos', () => {
  it('one server: every user gets each message exactly once, in order per stream, while sockets are killed', async () => {
    const adapter = new MemoryAdapter({ retention: { maxEntries: MESSAGES * 2 } })
    await chaos([await syncServer({ adapter })])
  })

  it('two servers sharing an adapter that delivers late and out of order: the same, gaps filled from the store', async () => {
    const adapter = delayedPublishing(new MemoryAdapter({ retention: { maxEntries: MESSAGES * 2 } }))
    const readAfter = vi.spyOn(adapter.store, 'readAfter')
    const first = await syncServer({ adapter })
    const second = track(new Mesa({ port: 0, host: '127.0.0.1', adapter, sync: { enabled: true } }))
    second.on('connection', (client) => client.authenticate((data, done) => done(null, { id: String(data.id), user: {} })))
    await second.listening()
    const kills = await chaos([first, { mesa: second, url: `ws://127.0.0.1:${second.port}` }])
    // Two reads per authentication; the rest are gaps filled when a later message arrived first.
    expect(readAfter.mock.calls.length).toBeGreaterThan(2 * (USERS + kills))
  })
})
