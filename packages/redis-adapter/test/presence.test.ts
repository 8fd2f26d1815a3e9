import { afterEach, describe, expect, it } from 'vitest'
import { LOCAL_REDIS_URL, waitFor } from '@mesa/test-kit'
import { TestScope } from './support/scope.js'

const scope = new TestScope()
afterEach(() => scope.cleanup())

// What every presence must do is in the adapter contract (adapter-contract.test.ts); these are the Redis
// presence's own ways: per-server liveness, re-registration.
describe('RedisPresence', () => {
  it('removes the users of a server killed with SIGKILL within the TTL', async () => {
    const namespace = scope.namespace()
    const ttl = 900
    const survivor = scope.adapter({ namespace, presenceTtlMs: ttl })
    await survivor.presence.join('shared', 's-1')
    await survivor.presence.joinChannel('room', 'shared', 's-1')
    const child = await scope.fixture('presence-server', {
      REDIS_URL: LOCAL_REDIS_URL,
      NAMESPACE: namespace,
      TTL_MS: String(ttl),
      SOCKETS: 'doomed:d-1,doomed:d-2,shared:d-3',
      CHANNEL_SOCKETS: 'lobby:doomed:d-1,lobby:doomed:d-2,lobby:shared:d-3,room:doomed:d-1,room:shared:d-3',
    })
    expect(await survivor.presence.areOnline(['doomed', 'shared'])).toEqual([true, true])
    expect(await survivor.presence.onlineCount()).toBe(2)
    expect(await survivor.presence.channelMembers('lobby')).toEqual({ users: ['doomed', 'shared'], count: 2 })
    await child.kill()
    // Expected within the TTL (the key lives two thirds of it, a sweep follows within a third); the deadline
    // is generous because shared machines stall.
    await waitFor('the dead server to be cleaned up', async () => (await survivor.presence.areOnline(['doomed']))[0] === false, 10_000)
    expect(await survivor.presence.areOnline(['doomed', 'shared'])).toEqual([false, true])
    expect(await survivor.presence.onlineCount()).toBe(1)
    // Its channel members went with it, and only they: the survivor's socket is the last of 'shared' in the room.
    expect(await survivor.presence.channelMembers('lobby')).toEqual({ users: [], count: 0 })
    expect(await survivor.presence.channelMembers('room')).toEqual({ users: ['shared'], count: 1 })
    expect(await survivor.presence.leaveChannel('room', 'shared', 's-1')).toBe(true)
    // Nothing of the dead server is left: user and channel registrations, index, orphans.
    const keys = await scope.keysOf(namespace)
    expect(keys.filter((k) => k.includes(':sockets:') || k.includes(':channels:') || k.endsWith(':orphans'))).toEqual([
      `mesa:${namespace}:presence:{${namespace}:presence}:sockets:${survivor.serverId}`,
    ])
  })

  it('registers its sockets again when its registrations were lost', async () => {
    const namespace = scope.namespace()
    const a = scope.adapter({ namespace, presenceTtlMs: 300 })
    await a.presence.join('u1', 's1')
    await a.presence.join('u2', 's2')
    const keys = await scope.keysOf(namespace)
    await scope.redis().del(...keys)
    expect(await a.presence.onlineCount()).toBe(0)
    await waitFor('re-registration', async () => (await a.presence.onlineCount()) === 2, 3000)
    expect(await a.presence.areOnline(['u1', 'u2'])).toEqual([true, true])
  })

  it('registers its channel sockets again when its registrations were lost, once each', async () => {
    const namespace = scope.namespace()
    const a = scope.adapter({ namespace, presenceTtlMs: 60_000 })
    await a.presence.joinChannel('room', 'u1', 's1')
    await a.presence.joinChannel('room', 'u1', 's2')
    await a.presence.joinChannel('lobby', 'u2', 's3')
    await scope.redis().del(...(await scope.keysOf(namespace)))
    expect(await a.presence.channelMembers('room')).toEqual({ users: [], count: 0 })
    await a.presence.tick()
    expect(await a.presence.channelMembers('room')).toEqual({ users: ['u1'], count: 1 })
    expect(await a.presence.channelMembers('lobby')).toEqual({ users: ['u2'], count: 1 })
    expect(await a.presence.leaveChannel('room', 'u1', 's1')).toBe(false)
    expect(await a.presence.leaveChannel('room', 'u1', 's2')).toBe(true)
  })

  it('brings back the registrations of a server taken for dead that comes back, users and channels, even when it registers more before its next heartbeat', async () => {
    const namespace = scope.namespace()
    // Ticks are driven by the test: no timer fires within it.
    const a = scope.adapter({ namespace, presenceTtlMs: 60_000 })
    const b = scope.adapter({ namespace, presenceTtlMs: 60_000 })
    await a.presence.join('alice', 'a1')
    await a.presence.joinChannel('room', 'alice', 'a1')
    await a.presence.joinChannel('room', 'bob', 'a2')
    await b.presence.joinChannel('room', 'bob', 'b1')
    // a stalls past its liveness: b takes it for dead and removes its registrations.
    await scope.redis().del(`mesa:${namespace}:presence:{${namespace}:presence}:alive:${a.serverId}`)
    await b.presence.tick()
    expect(await b.presence.areOnline(['alice'])).toEqual([false])
    expect(await b.presence.channelMembers('room')).toEqual({ users: ['bob'], count: 1 })
    // a goes on before its next heartbeat: a user join (which writes its liveness key again, so the heartbeat
    // will find it), and a channel join under its old incarnation, which nobody indexes any more.
    await a.presence.join('dave', 'a3')
    expect(await a.presence.joinChannel('room', 'carol', 'a3')).toBe(true)
    // Its tick registers everything again (channels under a new incarnation) and retires the old incarnation.
    await a.presence.tick()
    expect(await b.presence.areOnline(['alice', 'dave'])).toEqual([true, true])
    const members = await b.presence.channelMembers('room')
    expect({ users: members.users.sort(), count: members.count }).toEqual({ users: ['alice', 'bob', 'carol'], count: 3 })
    // b sweeps again: a is alive, so nothing of it goes.
    await b.presence.tick()
    expect((await b.presence.channelMembers('room')).count).toBe(3)
    // Each socket is counted once: the last leave of each user says so, and nothing is left behind.
    expect(await a.presence.leaveChannel('room', 'carol', 'a3')).toBe(true)
    expect(await a.presence.leaveChannel('room', 'alice', 'a1')).toBe(true)
    expect(await a.presence.leaveChannel('room', 'bob', 'a2')).toBe(false)
    expect(await b.presence.leaveChannel('room', 'bob', 'b1')).toBe(true)
    const keys = await scope.keysOf(namespace)
    expect(keys.filter((k) => k.includes(':ch:') || k.endsWith(':orphans'))).toEqual([])
  })
})
