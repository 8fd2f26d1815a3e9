import { expect } from 'vitest'
import type { ContractTest } from './contract-test.js'

/** `presence`: who is online, across every server of the namespace. */
export function presenceContract(test: ContractTest): void {
  test('keeps a user online while any of their sockets is, on any server, and answers for many users in order', async (t) => {
    const [a, b] = await t.pair()
    await a.presence.join('alice', 'a1')
    await b.presence.join('alice', 'b1')
    await b.presence.join('bob', 'b2')
    expect(await a.presence.areOnline(['alice', 'bob', 'carol'])).toEqual([true, true, false])
    await a.presence.leave('alice', 'a1')
    expect(await b.presence.areOnline(['alice'])).toEqual([true])
    await b.presence.leave('alice', 'b1')
    expect(await a.presence.areOnline(['carol', 'bob', 'alice', 'bob'])).toEqual([false, true, false, true])
    expect(await a.presence.areOnline([])).toEqual([])
  })

  test('takes a repeated join once, and ignores a leave of a socket or user it does not know', async (t) => {
    const [a, b] = await t.pair()
    await a.presence.leave('nobody', 'x')
    await a.presence.join('alice', 's1')
    await a.presence.join('alice', 's1')
    await a.presence.leave('alice', 'another-socket')
    expect(await b.presence.areOnline(['alice', 'nobody'])).toEqual([true, false])
    await a.presence.leave('alice', 's1')
    expect(await b.presence.areOnline(['alice'])).toEqual([false])
    await a.presence.leave('alice', 's1')
    expect(await b.presence.areOnline(['alice'])).toEqual([false])
  })

  test('counts distinct online users (onlineCount, when the adapter has it)', async (t, skip) => {
    const [a, b] = await t.pair()
    if (typeof a.presence.onlineCount !== 'function') return skip('the adapter has no onlineCount')
    expect(await a.presence.onlineCount()).toBe(0)
    await a.presence.join('alice', 'a1')
    await b.presence.join('alice', 'b1')
    await b.presence.join('bob', 'b2')
    expect(await a.presence.onlineCount()).toBe(2)
    expect(await b.presence.onlineCount?.()).toBe(2)
    await b.presence.leave('alice', 'b1')
    await a.presence.leave('alice', 'a1')
    expect(await a.presence.onlineCount()).toBe(1)
  })

  test(
    "takes the sockets an adapter joined offline when it closes, and no other adapter's",
    async (t) => {
      const [a, b] = await t.pair()
      await a.presence.join('alice', 'a1')
      await a.presence.join('carol', 'a2')
      await b.presence.join('bob', 'b1')
      await b.presence.join('carol', 'b2')
      await a.close()
      await t.until('alice to be offline', async () => (await b.presence.areOnline(['alice']))[0] === false)
      expect(await b.presence.areOnline(['alice', 'bob', 'carol'])).toEqual([false, true, true])
    },
    { sharedBackend: true },
  )
}
