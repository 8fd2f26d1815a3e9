import type { Adapter } from '@mesa/core/server'
import { expect } from 'vitest'
import type { ContractTest } from './contract-test.js'

/** The channel's members, users sorted. */
async function membersOf(adapter: Adapter, channel: string): Promise<{ users: string[]; count: number }> {
  const { users, count } = await adapter.presence.channelMembers(channel)
  return { users: [...users].sort(), count }
}

/** `presence.joinChannel`, `leaveChannel`, `channelMembers`: who is subscribed to a channel, across every server. */
export function channelPresenceContract(test: ContractTest): void {
  test("answers whether a join is the user's first socket on the channel and a leave their last, across servers", async (t) => {
    const [a, b] = await t.pair()
    expect(await a.presence.joinChannel('room', 'alice', 'a1')).toBe(true)
    expect(await b.presence.joinChannel('room', 'alice', 'b1')).toBe(false)
    expect(await a.presence.joinChannel('room', 'alice', 'a1')).toBe(false)
    expect(await b.presence.joinChannel('lobby', 'alice', 'b1')).toBe(true)
    expect(await a.presence.leaveChannel('room', 'alice', 'a1')).toBe(false)
    expect(await a.presence.leaveChannel('room', 'alice', 'a1')).toBe(false)
    expect(await b.presence.leaveChannel('room', 'alice', 'b1')).toBe(true)
    expect(await b.presence.leaveChannel('room', 'alice', 'b1')).toBe(false)
    expect(await a.presence.joinChannel('room', 'alice', 'a2')).toBe(true)
    expect(await b.presence.leaveChannel('lobby', 'alice', 'b1')).toBe(true)
  })

  test('lists the distinct users of a channel and their count, each channel apart', async (t) => {
    const [a, b] = await t.pair()
    expect(await membersOf(a, 'room')).toEqual({ users: [], count: 0 })
    await a.presence.joinChannel('room', 'alice', 'a1')
    await a.presence.joinChannel('room', 'alice', 'a2')
    await b.presence.joinChannel('room', 'alice', 'b1')
    await b.presence.joinChannel('room', 'bob', 'b2')
    await b.presence.joinChannel('lobby', 'carol', 'b3')
    expect(await membersOf(b, 'room')).toEqual({ users: ['alice', 'bob'], count: 2 })
    expect(await membersOf(a, 'lobby')).toEqual({ users: ['carol'], count: 1 })
    await b.presence.leaveChannel('room', 'bob', 'b2')
    await a.presence.leaveChannel('room', 'alice', 'a1')
    expect(await membersOf(a, 'room')).toEqual({ users: ['alice'], count: 1 })
  })

  test('ignores a leave of a channel, socket or user it does not know', async (t) => {
    const [a, b] = await t.pair()
    expect(await a.presence.leaveChannel('nowhere', 'alice', 'a1')).toBe(false)
    await a.presence.joinChannel('room', 'alice', 'a1')
    expect(await b.presence.leaveChannel('room', 'alice', 'another-socket')).toBe(false)
    expect(await b.presence.leaveChannel('room', 'bob', 'a1')).toBe(false)
    expect(await b.presence.leaveChannel('lobby', 'alice', 'a1')).toBe(false)
    expect(await membersOf(b, 'room')).toEqual({ users: ['alice'], count: 1 })
    expect(await a.presence.leaveChannel('room', 'alice', 'a1')).toBe(true)
  })

  test('keeps channel presence apart from user presence', async (t) => {
    const [a, b] = await t.pair()
    await a.presence.joinChannel('room', 'alice', 'a1')
    await b.presence.join('bob', 'b1')
    expect(await b.presence.areOnline(['alice', 'bob'])).toEqual([false, true])
    expect(await membersOf(a, 'room')).toEqual({ users: ['alice'], count: 1 })
    await b.presence.leave('alice', 'a1')
    expect(await membersOf(a, 'room')).toEqual({ users: ['alice'], count: 1 })
  })

  test('shares no channel presence between namespaces', async (t) => {
    const a = await t.adapter()
    const b = await t.adapter()
    expect(await a.presence.joinChannel('room', 'alice', 's1')).toBe(true)
    expect(await b.presence.joinChannel('room', 'alice', 's1')).toBe(true)
    expect(await b.presence.leaveChannel('room', 'alice', 's1')).toBe(true)
    expect(await membersOf(a, 'room')).toEqual({ users: ['alice'], count: 1 })
    expect(await membersOf(b, 'room')).toEqual({ users: [], count: 0 })
  })

  test(
    "takes the channel members an adapter joined away when it closes, and no other adapter's",
    async (t) => {
      const [a, b] = await t.pair()
      await a.presence.joinChannel('room', 'alice', 'a1')
      await a.presence.joinChannel('room', 'carol', 'a2')
      await b.presence.joinChannel('room', 'bob', 'b1')
      await b.presence.joinChannel('room', 'carol', 'b2')
      await a.close()
      await t.until('alice to leave', async () => !(await b.presence.channelMembers('room')).users.includes('alice'))
      expect(await membersOf(b, 'room')).toEqual({ users: ['bob', 'carol'], count: 2 })
      expect(await b.presence.leaveChannel('room', 'carol', 'b2')).toBe(true)
    },
    { sharedBackend: true },
  )
}
