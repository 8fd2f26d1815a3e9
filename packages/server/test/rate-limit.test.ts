import { delay, nextEvent, type RawClient, waitFor } from '@mesa/test-kit'
import { describe, expect, it } from 'vitest'
import { CloseCode, Message, type Mesa, type MesaOptions, ServerError } from '../src/index.js'
import { connect, startServer } from './helpers.js'

/** A server counting the messages it takes and the errors it reports. */
async function countingServer(options: MesaOptions = {}): Promise<{ mesa: Mesa; url: string; handled: string[]; errors: Error[] }> {
  const { mesa, url } = await startServer(options)
  const handled: string[] = []
  const errors: Error[] = []
  mesa.on('message', (message) => void handled.push(String(message.type)))
  mesa.on('error', (error) => errors.push(error))
  return { mesa, url, handled, errors }
}

function flood(socket: RawClient, count: number, frame: object = { op: 0, d: {}, t: 'FLOOD' }): void {
  const text = JSON.stringify(frame)
  for (let i = 0; i < count; i++) socket.send(text)
}

/** Answers `PING` with `PONG`: a well-behaved client's round trip. */
function answerPings(mesa: Mesa): void {
  mesa.on('connection', (client) =>
    client.on('message', (message) => {
      if (message.type === 'PING') void client.send(new Message(0, {}, 'PONG'))
    }),
  )
}

describe('rate limits', () => {
  it('are on by default: a socket flooding messages is closed with 4006 and a reason; the others go on', async () => {
    const { mesa, url, handled, errors } = await countingServer()
    answerPings(mesa)
    const flooder = await connect(url)
    const good = await connect(url)
    const disconnected = nextEvent(mesa, 'disconnection')
    flood(flooder, 2000)
    const closed = await flooder.waitClose()
    expect(closed).toEqual({
      code: CloseCode.RateLimited,
      reason: 'rate limit exceeded (200 messages and 1048576 bytes per second)',
    })
    await disconnected
    // The burst (500) passed, the rest did not: input stops once the server decided to close.
    expect(handled.length).toBeGreaterThanOrEqual(500)
    expect(handled.length).toBeLessThan(600)
    const limited = errors.filter((error) => error instanceof ServerError && error.code === 'rate-limited')
    expect(limited).toHaveLength(1)
    expect(mesa.stats.rateLimited).toBe(1)
    good.send({ op: 0, d: {}, t: 'PING' })
    await good.waitFor('PONG', () => good.messages.some((frame) => frame.t === 'PONG'))
  })

  it('count heartbeat acks too: a flood is a flood', async () => {
    const { url } = await countingServer()
    const flooder = await connect(url)
    flood(flooder, 2000, { op: 11, d: {} })
    expect((await flooder.waitClose()).code).toBe(CloseCode.RateLimited)
  })

  it('limit bytes per second: frames over the byte budget close the socket', async () => {
    const { url, handled } = await countingServer({
      maxPayload: 2048,
      limits: { rate: { bytesPerSecond: 1000, byteBurst: 2048 } },
    })
    const socket = await connect(url)
    const frame = { op: 0, d: { text: 'x'.repeat(900) }, t: 'KB' }
    flood(socket, 3, frame)
    expect((await socket.waitClose()).code).toBe(CloseCode.RateLimited)
    expect(handled).toEqual(['KB', 'KB'])
  })

  it("action 'drop': frames over the limit are dropped and reported at most once a second; the socket stays and passes again", async () => {
    const { mesa, url, handled, errors } = await countingServer({
      limits: { rate: { messagesPerSecond: 10, messageBurst: 5, action: 'drop' } },
    })
    const socket = await connect(url)
    flood(socket, 50)
    await waitFor('all 50 frames taken or dropped', () => mesa.stats.rateLimited + handled.length === 50)
    expect(handled.length).toBeGreaterThanOrEqual(5)
    expect(handled.length).toBeLessThan(10)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({
      name: 'ServerError',
      code: 'rate-limited',
      message: 'rate limit exceeded (10 messages and 1048576 bytes per second): frames dropped',
    })
    expect(socket.closeCode).toBeUndefined()

    // Refilled at 10 a second: the socket passes again, and a new flood a second later is reported again.
    await delay(1100)
    const before = handled.length
    flood(socket, 3, { op: 0, d: {}, t: 'AGAIN' })
    await waitFor('the 3 frames after the pause', () => handled.length === before + 3)
    flood(socket, 50)
    await waitFor('a second report', () => errors.length === 2)
    expect(socket.closeCode).toBeUndefined()
  })

  it('never touch a socket that stays under them', async () => {
    const { url, handled, errors } = await countingServer({
      limits: { rate: { messagesPerSecond: 50, messageBurst: 10 } },
    })
    const socket = await connect(url)
    // The whole burst at once, then half the rate for a second.
    flood(socket, 10)
    for (let i = 0; i < 25; i++) {
      await delay(40)
      socket.send({ op: 0, d: { i }, t: 'PACED' })
    }
    await waitFor('every frame', () => handled.length === 35)
    expect(errors).toEqual([])
    expect(socket.closeCode).toBeUndefined()
  })

  it('rate: false turns them off', async () => {
    const { url, handled } = await countingServer({ limits: { rate: false } })
    const socket = await connect(url)
    flood(socket, 2000)
    await waitFor('every frame', () => handled.length === 2000, 10_000)
    expect(socket.closeCode).toBeUndefined()
  })
})
