import type { RawClient } from '@mesa/test-kit'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CloseCode, MesaError, Message } from '../src/index.js'
import { FUZZ_RUNS, frameBatch } from './fuzz-frames.js'
import { connect, deepMerge, startServer } from './helpers.js'

/** Frames the offending client sends: a couple of thousand in the suite, 100k with `pnpm fuzz` (FUZZ_FRAMES). */
const FRAMES = Number(process.env.FUZZ_FRAMES ?? Math.max(1000, FUZZ_RUNS * 5))
/** Frames per property run; each run ends with round trips that show what the server did with them. */
const BATCH = 25

/** Codes an offender may be closed with: Mesa's (`InvalidPayload`, 1007, is what ws sends for a text frame that is not UTF-8). */
const CLOSE_CODES: ReadonlySet<number> = new Set(Object.values(CloseCode))
const WITHOUT_REASON: ReadonlySet<number> = new Set([CloseCode.InvalidPayload, CloseCode.MessageTooBig])

function pongs(socket: RawClient): number {
  return socket.messages.filter((frame) => frame.t === 'PONG').length
}

/** Sends PING and waits for the PONG, or for the socket to be closed (then it is not answered). */
async function roundTrip(socket: RawClient, what: string): Promise<void> {
  const before = pongs(socket)
  socket.send({ op: 0, d: {}, t: 'PING' })
  await socket.waitFor(what, () => pongs(socket) > before || socket.closeCode !== undefined, 20_000)
}

describe('server input (property-based, live server)', () => {
  it('survives random and mutated frames from one client: only the offender is closed, with a code and a reason; a well-behaved client is answered throughout', async () => {
    const { mesa, url } = await startServer()
    const errors: Error[] = []
    mesa.on('error', (error) => errors.push(error))
    mesa.on('connection', (client) => {
      client.authenticate((data, done) => {
        deepMerge({}, data)
        if (data.ok === false) done(Object.assign(new Error('refused'), { expose: true }))
        else done(null, { id: 'fuzz', user: {} })
      })
      client.on('message', (message) => {
        // What a careless application does with client data: no prototype may be reached through it.
        deepMerge({}, message.data as Record<string, unknown>)
        if (message.type === 'PING') void client.send(new Message(0, {}, 'PONG'))
      })
    })
    const good = await connect(url)
    // Within the authentication timeout a whole long run takes.
    await good.authenticate({ ok: true })
    let offender = await connect(url)
    const closes = new Map<number, number>()
    let sent = 0
    const started = performance.now()

    await fc.assert(
      fc.asyncProperty(frameBatch(BATCH), async (frames) => {
        if (offender.closeCode !== undefined) offender = await connect(url)
        for (const { data, binary, repeat = 1 } of frames) {
          for (let i = 0; i < repeat; i++) offender.ws.send(data, { binary })
          sent += repeat
        }
        await roundTrip(offender, 'the offender answered or closed')
        const code = offender.closeCode
        if (code !== undefined) {
          closes.set(code, (closes.get(code) ?? 0) + 1)
          expect(CLOSE_CODES.has(code), `close code ${code}`).toBe(true)
          if (!WITHOUT_REASON.has(code)) expect(offender.closeReason!.length).toBeGreaterThan(0)
        }
        await roundTrip(good, 'the well-behaved client answered')
        expect(good.closeCode).toBeUndefined()
        expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined()
        expect((Object as unknown as Record<string, unknown>).polluted).toBeUndefined()
      }),
      { numRuns: Math.ceil(FRAMES / BATCH), endOnFailure: true },
    )

    // Everything the server reported is one of its typed errors.
    expect(errors.filter((error) => !(error instanceof MesaError))).toEqual([])
    expect(mesa.connectionCount).toBeGreaterThanOrEqual(1)
    if (process.env.FUZZ_FRAMES !== undefined) {
      const seconds = (performance.now() - started) / 1000
      const byCode = [...closes].sort(([a], [b]) => a - b).map(([code, count]) => `${code}: ${count}`)
      console.log(
        `server input fuzz: ${sent} frames in ${seconds.toFixed(1)} s, ${errors.length} errors reported, offenders closed ${[...closes.values()].reduce((a, b) => a + b, 0)} times (${byCode.join(', ')})`,
      )
    }
  })
})
