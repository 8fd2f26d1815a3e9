import { describe, expect, it } from 'vitest'
import { Backoff, backoffDelay, backoffSettings, ConfigError } from '../src/index.js'

describe('Backoff', () => {
  it('grows the ceiling exponentially up to max, with full jitter below it', () => {
    const ceilings: number[] = []
    const backoff = new Backoff({ base: 100, factor: 2, max: 1000, random: () => 0.999999 })
    for (let i = 0; i < 6; i++) ceilings.push(backoff.next())
    expect(ceilings).toEqual([99, 199, 399, 799, 999, 999])
    expect(backoff.attempts).toBe(6)
  })

  it('draws each delay uniformly from zero to the ceiling', () => {
    const values = [0, 0.5]
    const backoff = new Backoff({ base: 1000, random: () => values.shift() ?? 0 })
    expect(backoff.next()).toBe(0)
    expect(backoff.next()).toBe(1000)
  })

  it('spreads many clients over the window instead of one instant', () => {
    const delays = Array.from({ length: 1000 }, () => new Backoff({ base: 5000 }).next())
    const distinct = new Set(delays.map((d) => Math.floor(d / 500)))
    expect(distinct.size).toBe(10)
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...delays)).toBeLessThan(5000)
  })

  it('starts again from the base after reset()', () => {
    const backoff = new Backoff({ base: 100, random: () => 0.5 })
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([50, 100, 200])
    backoff.reset()
    expect(backoff.attempts).toBe(0)
    expect(backoff.next()).toBe(50)
  })

  it('fills in the defaults', () => {
    expect(backoffSettings()).toEqual({ base: 1000, factor: 2, max: 30_000, resetAfter: 5000, random: Math.random })
    expect(backoffDelay({ ...backoffSettings({ random: () => 0.999999 }), max: 1500 }, 10)).toBe(1499)
  })

  it.each([{ base: 0 }, { base: -1 }, { max: Number.NaN }, { factor: 0.5 }, { resetAfter: -5 }])(
    'rejects %o with a ConfigError',
    (options) => {
      expect(() => new Backoff(options)).toThrow(ConfigError)
    },
  )
})
