import { Child, ChildCallError, fixture, RedisServer, Scope, waitFor } from '@mesa/test-kit'
import IORedis from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'

const scope = new Scope()
afterEach(() => scope.cleanup())

const echo = fixture('echo.mjs')

describe('test kit', () => {
  it('waits for a check to hold and resolves with what it found, or fails naming what it waited for', async () => {
    let polls = 0
    expect(await waitFor('the third poll', () => ++polls >= 3 && { polls }, 1000, 1)).toEqual({ polls: 3 })
    expect(await waitFor('zero', async () => 0)).toBe(0)
    await expect(waitFor('nothing', () => undefined, 30, 5)).rejects.toThrow('timed out after 30 ms waiting for nothing')
  })

  it('releases what a scope holds in reverse order, all of them even when one release fails', async () => {
    const released: string[] = []
    const local = new Scope()
    local.add('a', (name) => void released.push(name))
    local.defer(() => {
      throw new Error('b failed')
    })
    local.add('c', (name) => void released.push(name))
    await expect(local.cleanup()).rejects.toThrow('b failed')
    expect(released).toEqual(['c', 'a'])
    await local.cleanup()
  })

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
