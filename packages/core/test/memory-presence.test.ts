import { describe, expect, it } from 'vitest'
import { MemoryPresence } from '../src/index.js'

describe('MemoryPresence', () => {
  it('keeps a user online while any of their sockets remains', async () => {
    const presence = new MemoryPresence()
    await presence.join('alice', 's1')
    await presence.join('alice', 's2')
    await presence.join('bob', 's3')
    expect(await presence.onlineCount()).toBe(2)
    await presence.leave('alice', 's1')
    expect(await presence.isOnline('alice')).toBe(true)
    await presence.leave('alice', 's2')
    expect(await presence.isOnline('alice')).toBe(false)
    expect(await presence.areOnline(['alice', 'bob', 'carol'])).toEqual([false, true, false])
    expect(await presence.onlineCount()).toBe(1)
  })

  it('ignores a leave for an unknown socket or user and a repeated join', async () => {
    const presence = new MemoryPresence()
    await presence.leave('nobody', 'x')
    await presence.join('alice', 's1')
    await presence.join('alice', 's1')
    await presence.leave('alice', 'other')
    expect(await presence.isOnline('alice')).toBe(true)
    await presence.leave('alice', 's1')
    expect(await presence.onlineCount()).toBe(0)
  })
})
