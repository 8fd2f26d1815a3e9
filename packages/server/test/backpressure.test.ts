import { delay, nextEvent, type RawClient, waitFor } from '@mesa/test-kit'
import { describe, expect, it } from 'vitest'
import { CloseCode, type Mesa, type MesaOptions, Message, type ServerClient, ServerError } from '../src/index.js'
import { acceptIds, connect, startServer, user } from './helpers.js'

function errorsOf(mesa: Mesa): { error: Error; client?: ServerClient }[] {
  const errors: { error: Error; client?: ServerClient }[] = []
  mesa.on('error', (error, client) => errors.push({ error, client }))
  return errors
}

function hasCode(errors: { error: Error }[], code: string): boolean {
  return errors.some(({ error }) => error instanceof ServerError && error.code === code)
}

/** Sends `round(i)` once per event-loop turn until `done()`; fails after `max` rounds. */
async function flood(round: (i: number) => Promise<unknown>, done: () => boolean, max = 4000): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (done()) return
    await round(i)
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error(`still not done after ${max} rounds`)
}

const chunk = 'x'.repeat(16 * 1024)

async function authenticatedServer(options: MesaOptions): Promise<{ mesa: Mesa; url: string }> {
  const started = await startServer(options)
  acceptIds(started.mesa)
  return started
}

describe('a client that does not read (maxBufferedAmount)', () => {
  it('gets nothing more written and is closed with 4007 and a reason, which it reads once it catches up', async () => {
    const { mesa, url } = await startServer({ maxBufferedAmount: 64 * 1024, limits: { closeTimeout: 10_000 } })
    const errors = errorsOf(mesa)
    const slow = await connect(url)
    const good = await connect(url)
    const disconnected = nextEvent(mesa, 'disconnection', 20_000)
    slow.pauseReading()
    await flood((i) => mesa.send(new Message(0, { i, chunk }, 'BULK')), () => hasCode(errors, 'slow-consumer'))
    expect(mesa.stats.slowConsumerCuts).toBe(1)
    await mesa.send(new Message(0, {}, 'AFTER'))
    await good.waitFor('AFTER', () => good.messages.some((frame) => frame.t === 'AFTER'), 10_000)
    slow.resumeReading()
    const closed = await slow.waitClose(10_000)
    expect(closed).toEqual({ code: CloseCode.SlowConsumer, reason: 'too slow: more than 65536 bytes waited to be sent' })
    expect(slow.messages.some((frame) => frame.t === 'AFTER')).toBe(false)
    expect((await disconnected)[0]).toBe(CloseCode.SlowConsumer)
    expect(mesa.connectionCount).toBe(1)
  })

  it('is cut after limits.closeTimeout when it never reads again', async () => {
    const { mesa, url } = await startServer({ maxBufferedAmount: 64 * 1024, limits: { closeTimeout: 300 } })
    const errors = errorsOf(mesa)
    const slow = await connect(url)
    slow.pauseReading()
    const disconnected = nextEvent(mesa, 'disconnection', 10_000)
    await flood((i) => mesa.send(new Message(0, { i, chunk }, 'BULK')), () => hasCode(errors, 'slow-consumer'))
    expect((await disconnected)[0]).toBe(1006)
    expect(mesa.connectionCount).toBe(0)
  })
})

describe('the bound on bytes waiting across sockets (limits.maxBufferedBytes)', () => {
  it('closes the sockets holding the most with 1013 until under the bound; readers go on', async () => {
    const { mesa, url } = await authenticatedServer({
      maxBufferedAmount: 64 * 2 ** 20,
      limits: { maxBufferedBytes: 2 ** 20, closeTimeout: 10_000 },
    })
    const errors = errorsOf(mesa)
    const heavy = await user(url, 'heavy')
    const light = await user(url, 'light')
    const reader = await user(url, 'reader')
    heavy.pauseReading()
    light.pauseReading()
    await flood(
      (i) =>
        Promise.all([
          mesa.send(new Message(0, { i, chunk }, 'BULK'), ['heavy']),
          mesa.send(new Message(0, { i, chunk }, 'BULK'), ['heavy']),
          mesa.send(new Message(0, { i, chunk }, 'BULK'), ['heavy', 'light', 'reader']),
        ]),
      () => hasCode(errors, 'overloaded'),
    )
    const overloaded = errors.filter(({ error }) => error instanceof ServerError && error.code === 'overloaded')
    expect(overloaded.map(({ client }) => client?.userId)).toEqual(['heavy'])
    expect(overloaded[0]!.error.message).toMatch(/more than limits\.maxBufferedBytes \(1048576\)/)
    expect(mesa.stats.slowConsumerCuts).toBe(1)
    heavy.resumeReading()
    expect(await heavy.waitClose(10_000)).toEqual({ code: CloseCode.TryAgainLater, reason: 'server overloaded, try again later' })
    await mesa.send(new Message(0, {}, 'AFTER'), ['reader', 'light'])
    await reader.waitFor('AFTER', () => reader.messages.some((frame) => frame.t === 'AFTER'), 10_000)
    expect(light.closeCode).toBeUndefined()
  })

  it('stops counting a socket once it caught up, so readers that lag for a moment are never closed', async () => {
    const { mesa, url } = await authenticatedServer({
      maxBufferedAmount: 64 * 2 ** 20,
      limits: { maxBufferedBytes: 512 * 1024 },
    })
    const errors = errorsOf(mesa)
    const sockets: RawClient[] = []
    for (let i = 0; i < 6; i++) sockets.push(await user(url, `u${i}`))
    // In turn, each lags until the server holds 160 KiB for it, then catches up: 6 x 160 KiB were waiting in all.
    for (const [i, socket] of sockets.entries()) {
      const client = mesa.clients.find((candidate) => candidate.userId === `u${i}`)!
      const held = (): number => client.upgradeRequest.socket.writableLength
      socket.pauseReading()
      await flood((n) => mesa.send(new Message(0, { n, chunk }, 'BULK'), [`u${i}`]), () => held() > 160 * 1024)
      socket.resumeReading()
      await waitFor('the buffer to drain', () => held() === 0, 10_000)
      await delay(10)
    }
    expect(errors.map(({ error }) => error.message)).toEqual([])
    expect(sockets.every((socket) => socket.closeCode === undefined)).toBe(true)
  })
})
