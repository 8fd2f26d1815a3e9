import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CloseCode, type Frame, ProtocolError } from '../src/index.js'
import { encodeFrame, isWireOpcode, MAX_TYPE_LENGTH, parseFrame } from '../src/server.js'

/** Runs per property: a few hundred in the suite, more with `pnpm fuzz` (FUZZ_RUNS). */
const RUNS = Number(process.env.FUZZ_RUNS ?? 300)

const CLOSE_CODES: ReadonlySet<number> = new Set(Object.values(CloseCode))

/** What every result of `parseFrame` must be, whatever it was given. */
function checkResult(result: ReturnType<typeof parseFrame>): void {
  if (!result.ok) {
    expect(result.error).toBeInstanceOf(ProtocolError)
    expect(CLOSE_CODES.has(result.error.closeCode)).toBe(true)
    expect(result.error.message.length).toBeGreaterThan(0)
    return
  }
  const { frame } = result
  expect(Number.isInteger(frame.op) && isWireOpcode(frame.op)).toBe(true)
  expect(typeof frame.d === 'object' && frame.d !== null && !Array.isArray(frame.d)).toBe(true)
  if (frame.t !== undefined) expect(typeof frame.t === 'string' && frame.t.length <= MAX_TYPE_LENGTH).toBe(true)
  if (frame.s !== undefined) expect(Number.isSafeInteger(frame.s) && frame.s >= 0).toBe(true)
  if (frame.o !== undefined) expect(frame.o.sync === undefined || typeof frame.o.sync === 'boolean').toBe(true)
  if (frame.x !== undefined) expect(typeof frame.x === 'object' && frame.x !== null && !Array.isArray(frame.x)).toBe(true)
}

const object = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 })

/** Frames as peers send them. */
const frame: fc.Arbitrary<Frame> = fc.record(
  {
    op: fc.constantFrom(0, 1, 2, 10, 11, 22),
    d: object,
    t: fc.string({ maxLength: 40 }),
    s: fc.nat(),
    o: fc.record({ sync: fc.boolean() }),
    x: object,
  },
  { requiredKeys: ['op', 'd'] },
)

/** A valid frame's text with a few characters inserted, removed or replaced: near misses of the parser. */
const mutated = fc
  .tuple(
    frame.map((value) => encodeFrame(value)),
    fc.array(fc.tuple(fc.nat(), fc.constantFrom('insert', 'delete', 'replace'), fc.string({ unit: 'binary-ascii', maxLength: 2 })), {
      minLength: 1,
      maxLength: 4,
    }),
  )
  .map(([text, edits]) => {
    let out = text
    for (const [at, kind, piece] of edits) {
      const i = at % (out.length + 1)
      out = kind === 'insert' ? out.slice(0, i) + piece + out.slice(i) : out.slice(0, i) + (kind === 'replace' ? piece : '') + out.slice(i + 1)
    }
    return out
  })

describe('parseFrame (property-based)', () => {
  it('never throws, and every result holds its invariants, on any string, any JSON and near-miss frames', () => {
    const input = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.json({ maxDepth: 4 }), mutated)
    fc.assert(
      fc.property(input, (text) => {
        checkResult(parseFrame(text))
      }),
      { numRuns: RUNS * 3 },
    )
  })

  it('takes back every frame encodeFrame writes', () => {
    fc.assert(
      fc.property(frame, (value) => {
        const result = parseFrame(encodeFrame(value))
        checkResult(result)
        expect(result.ok).toBe(true)
        if (result.ok) expect(result.frame).toEqual(JSON.parse(encodeFrame(value)))
      }),
      { numRuns: RUNS },
    )
  })
})
