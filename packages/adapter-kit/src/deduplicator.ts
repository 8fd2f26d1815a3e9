import { expect } from 'vitest'
import type { ContractTest } from './contract-test.js'

const LONG = 60_000

/** `dedupe`: an acknowledged client message is handled once, whichever server its retransmissions reach. */
export function deduplicatorContract(test: ContractTest): void {
  test('claims a key once: new, then busy while it is handled, then done once completed, on every adapter', async (t) => {
    const [a, b] = await t.pair()
    expect(await a.dedupe.begin('client-1:1', LONG)).toBe('new')
    expect(await b.dedupe.begin('client-1:1', LONG)).toBe('busy')
    expect(await a.dedupe.begin('client-1:1', LONG)).toBe('busy')
    expect(await b.dedupe.begin('client-1:2', LONG)).toBe('new')
    await a.dedupe.complete('client-1:1', LONG)
    expect(await b.dedupe.begin('client-1:1', LONG)).toBe('done')
    expect(await a.dedupe.begin('client-1:1', LONG)).toBe('done')
    expect(await a.dedupe.begin('client-1:2', LONG)).toBe('busy')
  })

  test('gives a key to exactly one of many concurrent claims', async (t) => {
    const [a, b] = await t.pair()
    const claims = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).dedupe.begin('contended', LONG)),
    )
    expect(claims.filter((claim) => claim === 'new')).toHaveLength(1)
    expect(claims.filter((claim) => claim === 'busy')).toHaveLength(19)
  })

  test('lets a claim lapse after its lease (its server died), and a done key after its window', async (t) => {
    const [a, b] = await t.pair()
    expect(await a.dedupe.begin('k', 200)).toBe('new')
    await t.pass(400)
    expect(await b.dedupe.begin('k', 200)).toBe('new')
    await b.dedupe.complete('k', 200)
    expect(await a.dedupe.begin('k', LONG)).toBe('done')
    await t.pass(400)
    expect(await a.dedupe.begin('k', LONG)).toBe('new')
  })

  test('abandon forgets a busy claim, never a done one, and ignores a key it does not know', async (t) => {
    const [a, b] = await t.pair()
    await a.dedupe.abandon('unknown')
    expect(await a.dedupe.begin('unknown', LONG)).toBe('new')
    expect(await a.dedupe.begin('k', LONG)).toBe('new')
    await a.dedupe.abandon('k')
    expect(await b.dedupe.begin('k', LONG)).toBe('new')
    await b.dedupe.complete('k', LONG)
    await a.dedupe.abandon('k')
    expect(await a.dedupe.begin('k', LONG)).toBe('done')
  })

  test('shares no claim between namespaces', async (t) => {
    const a = await t.adapter()
    const b = await t.adapter()
    expect(await a.dedupe.begin('k', LONG)).toBe('new')
    expect(await b.dedupe.begin('k', LONG)).toBe('new')
    await a.dedupe.complete('k', LONG)
    expect(await b.dedupe.begin('k', LONG)).toBe('busy')
  })
}
