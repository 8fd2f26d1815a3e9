import { MemoryAdapter } from '@mesa/core'
import { describe, expect, it } from 'vitest'
import { Message } from '../src/index.js'
import type { TestSocket } from './helpers.js'
import { syncServer, Tracker } from './tracker.js'

const USERS = 30
const MESSAGES = 1500
const KILLS = 150

describe('redelivery under chaos', () => {
  it('every user ends with each message exactly once, in order per stream, while sockets are killed', async () => {
    const adapter = new MemoryAdapter({ retention: { maxEntries: MESSAGES * 2 } })
    const { mesa, url } = await syncServer({ adapter })
    const ids = Array.from({ length: USERS }, (_, i) => `user-${i}`)
    const trackers = ids.map(() => new Tracker())
    const sockets: TestSocket[] = await Promise.all(ids.map((id, i) => trackers[i]!.connect(url, id)))
    let random = 42
    const next = (n: number): number => {
      random = (random * 1103515245 + 12345) % 2 ** 31
      return random % n
    }

    let kills = 0
    const reconnecting = new Map<number, Promise<void>>()
    const kill = (i: number): void => {
      if (reconnecting.has(i)) return
      const victim = sockets[i]!
      victim.onFrame.length = 0
      victim.terminate()
      kills++
      reconnecting.set(
        i,
        trackers[i]!.connect(url, ids[i]!).then((socket) => {
          sockets[i] = socket
          reconnecting.delete(i)
        }),
      )
    }

    for (let n = 1; n <= MESSAGES; n++) {
      // Odd: targeted to everyone by id (user streams); even: to every authenticated user (global stream).
      const sent = mesa.send(new Message(0, { n }, 'CHAOS'), n % 2 ? ids : ['*'])
      if (n % (MESSAGES / KILLS) === 0) {
        await sent
        kill(next(USERS))
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
    await Promise.all(reconnecting.values())
    expect(kills).toBeGreaterThan(KILLS / 2)

    const odd = Array.from({ length: MESSAGES / 2 }, (_, i) => 2 * i + 1)
    const even = odd.map((n) => n + 1)
    for (const [i, tracker] of trackers.entries()) {
      await sockets[i]!.waitFor(() => tracker.delivered.length >= MESSAGES, `all messages for ${ids[i]}`, 20_000)
      const numbers = tracker.numbers() as number[]
      expect(numbers).toHaveLength(MESSAGES)
      expect(numbers.filter((n) => n % 2 === 1)).toEqual(odd)
      expect(numbers.filter((n) => n % 2 === 0)).toEqual(even)
    }
  })
})
