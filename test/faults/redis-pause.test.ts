import type { MesaError } from '@mesa/core'
import { GLOBAL_STREAM, type MessageStore, userStream } from '@mesa/core/server'
import { RedisAdapter } from '@mesa/redis-adapter'
import { Message } from '@mesa/server'
import {
  authenticatedClient,
  numbersOf,
  RedisServer,
  rejectionOf,
  Scope,
  type WireFrame,
  waitFor,
} from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { startServer } from '../compat/support.js'

const scope = new Scope()
afterEach(() => scope.cleanup())

/** Short, so the test is quick, yet well above what a command takes on a loaded machine. */
const COMMAND_TIMEOUT_MS = 1000
/** How long Redis stays paused: well beyond the timeout, so a send that waits for Redis cannot pass. */
const PAUSE_LIMIT_MS = 5000

/** The `n` of every entry a stream holds, oldest first. */
async function storedNumbers(store: MessageStore, stream: string): Promise<number[]> {
  const head = await store.head(stream)
  const read = await store.readAfter(stream, { epoch: head.epoch, seq: 0 })
  if (read.status !== 'ok') throw new Error(`${stream} lost its history: ${read.status}`)
  return read.entries.map((entry) => (JSON.parse(entry.frame) as { d: { n: number } }).d.n)
}

/** The `n` of every op 0 frame of one stream as it came over the wire (duplicates included). */
function wireNumbers(frames: readonly WireFrame[], stream: 'user' | 'global'): number[] {
  const global = stream === 'global'
  return numbersOf(frames.filter((frame) => frame.op === 0 && ((frame.x as { st?: string } | undefined)?.st === 'g') === global))
}

describe('a Mesa server whose Redis hangs (SIGSTOP)', () => {
  it('rejects sends with a timeout, keeps its clients, delivers every stored message once after SIGCONT', async () => {
    const redis = scope.add(await RedisServer.start(), (r) => r.destroy())
    const adapter = scope.add(
      new RedisAdapter(redis.url, { namespace: 'pause', commandTimeoutMs: COMMAND_TIMEOUT_MS }),
      (a) => a.close(),
    )
    const adapterErrors: Error[] = []
    let readies = 0
    adapter.on('error', (error) => adapterErrors.push(error))
    adapter.on('ready', () => readies++)
    const { mesa, url } = await startServer(scope, { adapter, sync: { enabled: true } })
    const client = await authenticatedClient(scope, url, 'u')

    await mesa.send(new Message(0, { n: 1 }, 'M'), ['u'])
    await mesa.send(new Message(0, { n: 2 }, 'M'))
    await client.waitFor('the messages before the pause', () => client.delivered.length === 2)

    redis.pause()
    scope.defer(() => redis.resume())
    // A broadcast goes straight to the store; a targeted send asks presence first.
    for (const [n, recipients] of [
      [3, undefined],
      [4, ['u']],
    ] as const) {
      const sending = mesa.send(new Message(0, { n }, 'M'), recipients)
      const error = await rejectionOf(`send ${n} while Redis is paused`, sending, PAUSE_LIMIT_MS)
      expect(error).toMatchObject({ name: 'StoreError', code: 'store-timeout' })
    }
    expect(adapterErrors.some((e) => (e as MesaError).code === 'adapter-timeout')).toBe(true)
    expect(client.isOpen).toBe(true)
    redis.resume()

    await waitFor('the adapter to report recovery', () => readies > 0)
    await mesa.send(new Message(0, { n: 5 }, 'M'), ['u'])
    await mesa.send(new Message(0, { n: 6 }, 'M'))
    const user = await storedNumbers(adapter.store, userStream('u'))
    const global = await storedNumbers(adapter.store, GLOBAL_STREAM)
    // What was stored before and after the pause; a send that timed out may have been stored too, when
    // Redis ran it after SIGCONT.
    expect(user.filter((n) => n !== 4)).toEqual([1, 5])
    expect(global.filter((n) => n !== 3)).toEqual([2, 6])
    await client.waitFor(
      'every stored message',
      () =>
        wireNumbers(client.frames, 'user').length >= user.length &&
        wireNumbers(client.frames, 'global').length >= global.length,
    )
    // Once each, in order, over a socket that stayed open.
    expect(wireNumbers(client.frames, 'user')).toEqual(user)
    expect(wireNumbers(client.frames, 'global')).toEqual(global)
    expect(client.isOpen).toBe(true)
    expect(client.frames.filter((frame) => frame.op === 10)).toHaveLength(1)
  })
})
