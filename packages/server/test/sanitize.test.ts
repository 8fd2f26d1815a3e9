import { CloseCode, ProtocolError } from '@mesa/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { readClientFrame } from '../src/client-frame.js'
import { preflight, type SanitizeMode, sanitize, type ValueBounds } from '../src/sanitize.js'
import { FUZZ_RUNS, fuzzFrame, jsonTree, sanitizedText, structure, treeText } from './fuzz-frames.js'

const CLOSE_CODES: ReadonlySet<number> = new Set(Object.values(CloseCode))
const DEFAULT_BOUNDS: ValueBounds = { maxDepth: 32, maxKeys: 20_000 }

const bounds = fc.record({ maxDepth: fc.integer({ min: 1, max: 8 }), maxKeys: fc.integer({ min: 1, max: 40 }) })
const mode = fc.constantFrom<SanitizeMode>('message', 'authentication')

/** Every object and array of `value`, iteratively (values may be deep). */
function containers(value: unknown): object[] {
  const found: object[] = []
  const pending: unknown[] = [value]
  while (pending.length > 0) {
    const node = pending.pop()
    if (typeof node !== 'object' || node === null) continue
    found.push(node)
    pending.push(...Object.values(node))
  }
  return found
}

/** What no object of a sanitised value may hold, in `mode`. */
function checkSafe(value: unknown, sanitizeMode: SanitizeMode): void {
  for (const node of containers(value)) {
    if (Array.isArray(node)) continue
    expect(Object.hasOwn(node, '__proto__')).toBe(false)
    if (sanitizeMode === 'authentication') {
      expect(Object.getPrototypeOf(node)).toBeNull()
      expect(Object.hasOwn(node, 'constructor') || Object.hasOwn(node, 'prototype')).toBe(false)
    } else if (Object.hasOwn(node, 'constructor')) {
      const value = (node as Record<string, unknown>).constructor
      expect(typeof value !== 'object' || value === null).toBe(true)
    }
  }
}

describe('sanitize (property-based)', () => {
  it('never throws; removes exactly the documented keys; refuses exactly what is beyond maxDepth or maxKeys', () => {
    fc.assert(
      fc.property(jsonTree, bounds, mode, (tree, limits, sanitizeMode) => {
        const value: unknown = JSON.parse(treeText(tree))
        const error = sanitize(value, limits, sanitizeMode)
        const { depth, keys } = structure(tree)
        if (error === undefined) {
          expect(depth).toBeLessThanOrEqual(limits.maxDepth)
          expect(keys).toBeLessThanOrEqual(limits.maxKeys)
          checkSafe(value, sanitizeMode)
          expect(JSON.stringify(value)).toBe(JSON.stringify(JSON.parse(sanitizedText(tree, sanitizeMode))))
        } else {
          expect(error).toBeInstanceOf(ProtocolError)
          expect(error.closeCode).toBe(CloseCode.InvalidFrame)
          if (error.code === 'too-deep') expect(depth).toBeGreaterThan(limits.maxDepth)
          else expect(keys).toBeGreaterThan(limits.maxKeys)
        }
      }),
      { numRuns: FUZZ_RUNS * 3 },
    )
  })

  it("preflight: a 'plain' text needs no walk, and a text it refuses the walk refuses too", () => {
    fc.assert(
      fc.property(jsonTree, bounds, (tree, limits) => {
        const text = treeText(tree)
        const verdict = preflight(text, limits)
        const value: unknown = JSON.parse(text)
        const before = JSON.stringify(value)
        const error = sanitize(value, limits, 'message')
        if (verdict === 'plain') {
          expect(error).toBeUndefined()
          expect(JSON.stringify(value)).toBe(before)
        } else if (verdict instanceof ProtocolError) {
          expect(error).toBeInstanceOf(ProtocolError)
        }
      }),
      { numRuns: FUZZ_RUNS * 3 },
    )
  })

  it('walks any depth without recursion', () => {
    const depth = 200_000
    const value: unknown = JSON.parse(`${'{"a":'.repeat(depth)}{"__proto__":{"polluted":1}}${'}'.repeat(depth)}`)
    expect(sanitize(value, { maxDepth: depth + 2, maxKeys: depth + 2 }, 'message')).toBeUndefined()
    let node = value as Record<string, unknown>
    for (let i = 0; i < depth; i++) node = node.a as Record<string, unknown>
    expect(Object.keys(node)).toEqual([])
  })

  it('refuses a frame of too many objects before it is parsed', () => {
    const text = `{"op":0,"d":{"a":[${new Array(25_000).fill('{}').join(',')}]}}`
    expect(preflight(text, DEFAULT_BOUNDS)).toMatchObject({ code: 'too-many-keys' })
    // Brackets inside strings are not structure: such a frame is parsed and walked, and passes.
    expect(preflight(`{"op":0,"d":{"a":"${'{'.repeat(25_000)}"}}`, DEFAULT_BOUNDS)).toBe('walk')
  })
})

describe('readClientFrame (property-based)', () => {
  it('never throws; a frame it returns has an opcode clients send and sanitised data; a refusal names a close code', () => {
    fc.assert(
      fc.property(fuzzFrame, fc.boolean(), ({ data, binary }, v2) => {
        const result = readClientFrame(typeof data === 'string' ? Buffer.from(data) : data, binary, DEFAULT_BOUNDS, v2)
        if (!result.ok) {
          expect(result.error).toBeInstanceOf(ProtocolError)
          expect(CLOSE_CODES.has(result.error.closeCode)).toBe(true)
          expect(result.error.message.length).toBeGreaterThan(0)
          return
        }
        const { frame } = result
        expect(v2 ? [0, 2, 11, 30, 32, 40, 41] : [0, 2, 11]).toContain(frame.op)
        checkSafe(frame.d, frame.op === 2 ? 'authentication' : 'message')
        if (frame.x !== undefined) checkSafe(frame.x, frame.op === 2 ? 'authentication' : 'message')
      }),
      { numRuns: FUZZ_RUNS * 3 },
    )
  })
})
