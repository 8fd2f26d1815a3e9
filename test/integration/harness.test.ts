import { fileURLToPath } from 'node:url'
import IORedis from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { Child, ChildCallError } from './harness/child.js'
import { RedisServer } from './harness/redis-server.js'
import { Scope } from './harness/scope.js'
import { waitFor } from './harness/wait.js'

const scope = new Scope()
afterEach(() => scope.cleanup())

const echo = fileURLToPath(new URL('./fixtures/echo.mjs', import.meta.url))

describe('integration harness', () => {
  it('runs a child, calls it, collects its events, and kills it with SIGKILL', async () => {
    const child = scope.add(await Child.start('echo', echo), (c) => c.kill())
    expect(child.info.pid).toBe(child.pid)
    expect(await child.call('echo', 1, 'two', { three: 3 })).toEqual([1, 'two', { three: 3 }])
    await expect(child.call('fail', 'nope')).rejects.toBeInstanceOf(ChildCallError)
    await child.call('report', 'ping')
    await waitFor('the event', () => child.eventsOf('ping').length === 1)
    await child.kill()
    expect(child.alive).toBe(false)
    expect(child.exitStatus).toBe('signal SIGKILL')
    expect(child.crashed).toBe(false)
    await expect(child.call('echo')).rejects.toThrow('is not running')
  })

  it('stops a child cleanly', async () => {
    const child = scope.add(await Child.start('echo', echo), (c) => c.kill())
    await child.stop()
    expect(child.exitStatus).toBe('code 0')
  })

  it('runs a private redis-server that keeps its data across a restart', async () => {
    const redis = scope.add(await RedisServer.start(), (r) => r.destroy())
    const client = scope.add(new IORedis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 }), (c) => {
      c.disconnect()
    })
    client.on('error', () => {})
    await client.connect()
    await client.set('key', 'value')
    await redis.stop()
    expect(redis.running).toBe(false)
    await redis.start()
    await waitFor('the client to reconnect', async () => (await client.get('key').catch(() => null)) === 'value')
  })
})
