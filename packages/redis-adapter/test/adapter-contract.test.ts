import { type Adapter, AdapterError, type Envelope, MemoryAdapter } from '@mesa/core'
import { afterEach, describe, expect, it } from 'vitest'
import { waitFor } from '@mesa/test-kit'
import { TestScope } from './support/scope.js'

const scope = new TestScope()
const memories: MemoryAdapter[] = []
afterEach(async () => {
  await Promise.all(memories.splice(0).map((m) => m.close()))
  await scope.cleanup()
})

/** Two handles on one shared adapter state: the same instance in memory, two connections to one namespace on Redis. */
const pairs: [string, () => [Adapter, Adapter]][] = [
  [
    'MemoryAdapter',
    () => {
      const adapter = new MemoryAdapter()
      memories.push(adapter)
      return [adapter, adapter]
    },
  ],
  [
    'RedisAdapter',
    () => {
      const namespace = scope.namespace()
      return [scope.adapter({ namespace }), scope.adapter({ namespace })]
    },
  ],
]

describe.each(pairs)('Adapter contract: %s', (_name, create) => {
  it('replicates to other origins only, until unsubscribed', async () => {
    const [a, b] = create()
    const got: string[] = []
    const stopB = await b.subscribe('server-b', (e) => void got.push(`b<-${e.origin}`))
    await a.subscribe('server-a', (e) => void got.push(`a<-${e.origin}`))
    const envelope: Envelope = { kind: 'dispatch', origin: 'server-a', frame: '{"op":0}', recipients: ['*'] }
    await a.publish(envelope)
    await b.publish({ kind: 'disconnect', origin: 'server-b', userIds: ['u'] })
    await waitFor('both envelopes', () => got.length === 2)
    expect(got.sort()).toEqual(['a<-server-b', 'b<-server-a'])
    await stopB()
    await a.publish(envelope)
    await b.publish({ kind: 'disconnect', origin: 'dispatcher', userIds: ['u'] })
    await waitFor('the last envelope', () => got.includes('a<-dispatcher'))
    expect(got).toHaveLength(3)
  })

  it('shares presence', async () => {
    const [a, b] = create()
    await a.presence.join('u1', 's1')
    await b.presence.join('u1', 's2')
    await b.presence.join('u2', 's3')
    expect(await a.presence.onlineCount()).toBe(2)
    await a.presence.leave('u1', 's1')
    expect(await b.presence.areOnline(['u1', 'u2', 'u3'])).toEqual([true, true, false])
    await b.presence.leave('u1', 's2')
    expect(await a.presence.isOnline('u1')).toBe(false)
  })

  it('rejects publish and subscribe once closed, and closes twice quietly', async () => {
    const [a] = create()
    await Promise.all([a.close(), a.close()])
    await expect(a.publish({ kind: 'disconnect', origin: 'x', userIds: [] })).rejects.toBeInstanceOf(AdapterError)
    await expect(a.subscribe('x', () => {})).rejects.toBeInstanceOf(AdapterError)
  })
})
