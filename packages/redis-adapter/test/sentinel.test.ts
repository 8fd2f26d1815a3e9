import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RedisAdapter } from '../src/index.js'
import { RedisSentinel, RedisServer, waitFor } from '@mesa/test-kit'

let master: RedisServer
let sentinel: RedisSentinel

beforeAll(async () => {
  master = await RedisServer.start()
  sentinel = await RedisSentinel.start(master)
})
afterAll(async () => {
  await sentinel?.destroy()
  await master?.destroy()
})

describe('RedisAdapter through Redis Sentinel', () => {
  it('finds the master through the sentinel and replicates, stores and tracks presence', async () => {
    const connection = { sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: 'mymaster' }
    const a = new RedisAdapter(connection, { namespace: 'sentinel' })
    const b = new RedisAdapter(connection, { namespace: 'sentinel' })
    try {
      const got: string[] = []
      await b.subscribe('b', (e) => void got.push(e.origin))
      await a.publish({ kind: 'dispatch', origin: 'a', frame: '{}' })
      await waitFor('replication', () => got.length === 1)
      const position = await a.store.append('user:u', { frame: 'x' })
      const read = await b.store.readAfter('user:u', { epoch: position.epoch, seq: 0 })
      expect(read.status === 'ok' && read.entries.map((e) => e.frame)).toEqual(['x'])
      await a.presence.join('u', 's')
      expect(await b.presence.areOnline(['u'])).toEqual([true])
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })
})
