import { AdapterError } from '@mesa/core'
import { freePort, RedisCluster, Scope } from '@mesa/test-kit'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { RedisAdapter } from '../src/index.js'

// The contract (adapter-contract.test.ts) runs on a standalone Redis; here, what only a Cluster or a failure shows.
let cluster: RedisCluster
const scope = new Scope()

beforeAll(async () => {
  cluster = await RedisCluster.start()
}, 60_000)
afterEach(() => scope.cleanup())
afterAll(async () => {
  await cluster?.destroy()
})

describe('RedisAdapter user channels', () => {
  it('on a Cluster: sets on a slot per user, many users per call, the bound held under concurrency', async () => {
    const a = scope.add(new RedisAdapter({ cluster: cluster.startupNodes }, { namespace: 'cluster-uc' }), (x) => x.close())
    const b = scope.add(new RedisAdapter({ cluster: cluster.startupNodes }, { namespace: 'cluster-uc' }), (x) => x.close())
    const users = Array.from({ length: 40 }, (_, i) => `user${i}`)
    expect(await a.userChannels.add('room:1', users, 2)).toEqual([])
    expect(await b.userChannels.add('room:2', users.slice(0, 10), 2)).toEqual([])
    expect(await a.userChannels.add('room:3', users.slice(5, 15), 2)).toEqual(users.slice(5, 10))
    expect((await b.userChannels.channelsOf('user12')).sort()).toEqual(['room:1', 'room:3'])
    await b.userChannels.remove('room:1', users)
    expect(await a.userChannels.channelsOf('user30')).toEqual([])
    expect((await a.userChannels.channelsOf('user7')).sort()).toEqual(['room:2'])
  })

  it('rejects with AdapterError when Redis is unreachable', async () => {
    const adapter = scope.add(new RedisAdapter(`redis://127.0.0.1:${await freePort()}`, { namespace: 'unreachable' }), (x) => x.close())
    adapter.on('error', () => {})
    for (const call of [adapter.userChannels.add('c', ['u'], 5), adapter.userChannels.remove('c', ['u']), adapter.userChannels.channelsOf('u')]) {
      await expect(call).rejects.toBeInstanceOf(AdapterError)
      await expect(call).rejects.toThrow(/^Redis user channels: (add|remove|channelsOf) failed: /)
    }
  })
})
