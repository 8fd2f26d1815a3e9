import { describe, expect, it } from 'vitest'
import { Backoff, ConfigError } from '../src/index.js'

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

  it('resets after a connection stayed open for resetAfter, not after a short one', () => {
    const backoff = new Backoff({ base: 100, resetAfter: 1000, random: () => 0.5 })
    backoff.next()
    backoff.next()
    backoff.opened(10_000)
    backoff.closed(10_500)
    expect(backoff.attempts).toBe(2)
    backoff.opened(20_000)
    backoff.closed(21_000)
    expect(backoff.attempts).toBe(0)
  })

  it.each([{ base: 0 }, { base: -1 }, { max: Number.NaN }, { factor: 0.5 }, { resetAfter: -5 }])(
    'rejects %o with a ConfigError',
    (options) => {
      expect(() => new Backoff(options)).toThrow(ConfigError)
    },
  )
})
