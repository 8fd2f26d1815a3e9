import { AdapterError, ConfigError } from '@mesa/core'
import type { Envelope } from '@mesa/core/server'
import { afterEach, describe, expect, it } from 'vitest'
import { createRedisAdapter, RedisAdapter } from '../src/index.js'
import { delay, LOCAL_REDIS_URL, waitFor } from '@mesa/test-kit'
import { TestScope } from './support/scope.js'

const scope = new TestScope()
afterEach(() => scope.cleanup())

const dispatch = (origin: string, recipients?: string[]): Envelope => ({
  kind: 'dispatch',
  origin,
  frame: '{"op":0,"d":{}}',
  recipients,
})

// What every adapter must do is in the adapter contract (adapter-contract.test.ts); these are the Redis
// adapter's own ways: one PUBLISH per message, channels, keys, connections, options.
describe('RedisAdapter replication', () => {
  it('publishes once per message whatever the number of recipients, as JSON', async () => {
    const namespace = scope.namespace()
    const adapter = scope.adapter({ namespace })
    const spy = scope.redis()
    const raw: string[] = []
    spy.on('message', (_channel: string, message: string) => raw.push(message))
    await spy.subscribe(`mesa:${namespace}:bus:{${namespace}:bus:0}`)
    const envelope = dispatch('s', Array.from({ length: 500 }, (_, i) => `user${i}`))
    await adapter.publish(envelope)
    await waitFor('the message', () => raw.length === 1)
    await delay(50)
    expect(raw).toHaveLength(1)
    expect(JSON.parse(raw[0]!)).toEqual(envelope)
  })

  it('keeps every key of a namespace under mesa:<namespace>:', async () => {
    const a = scope.adapter()
    const b = scope.adapter()
    await b.store.append('user:u', { frame: 'in b' })
    await a.store.append('user:u', { frame: 'only a' })
    await a.presence.join('u', 'sock')
    await a.portal.push({ kind: 'connection', clientId: 'c', serverId: 's', time: 1 })
    const aKeys = await scope.keysOf(a.namespace)
    const bKeys = await scope.keysOf(b.namespace)
    expect(aKeys.length).toBeGreaterThan(0)
    expect(aKeys.every((k) => k.startsWith(`mesa:${a.namespace}:`))).toBe(true)
    expect(bKeys.some((k) => aKeys.includes(k))).toBe(false)
  })

  it('reports malformed envelopes and throwing listeners as error events and goes on', async () => {
    const namespace = scope.namespace()
    const a = scope.adapter({ namespace })
    const errors: Error[] = []
    a.on('error', (e) => errors.push(e))
    const got: string[] = []
    await a.subscribe('bad', () => {
      throw new Error('listener bug')
    })
    await a.subscribe('good', (e) => void got.push(e.origin))
    await scope.redis().publish(`mesa:${namespace}:bus:{${namespace}:bus:0}`, 'not json{')
    await scope.redis().publish(`mesa:${namespace}:bus:{${namespace}:bus:0}`, '{"kind":"other","origin":"x"}')
    await a.publish(dispatch('ok'))
    await waitFor('the valid envelope', () => got.length === 1)
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringContaining('malformed envelope: not json{'),
      expect.stringContaining('malformed envelope'),
      'an envelope listener threw',
    ])
    expect(errors.every((e) => e instanceof AdapterError)).toBe(true)
  })

  it('spreads envelopes over several channels, keeping one user on one channel', async () => {
    const namespace = scope.namespace()
    const a = scope.adapter({ namespace, replicationChannels: 4 })
    const b = scope.adapter({ namespace, replicationChannels: 4 })
    const got: string[] = []
    await b.subscribe('b', (e) => void got.push(e.kind === 'dispatch' ? e.recipients?.[0] ?? '*' : ''))
    const recipients = Array.from({ length: 40 }, (_, i) => `user${i % 8}`)
    for (const user of recipients) await a.publish(dispatch('a', [user]))
    await waitFor('all', () => got.length === 40)
    for (let u = 0; u < 8; u++) {
      expect(got.filter((r) => r === `user${u}`)).toHaveLength(5)
    }
    const channels = await scope.redis().pubsub('CHANNELS', `mesa:${namespace}:bus:*`)
    expect(channels).toHaveLength(4)
  })

  it('closes idempotently, rejects later calls and removes its connections', async () => {
    const a = createRedisAdapter(LOCAL_REDIS_URL, { namespace: scope.namespace() })
    expect(a).toBeInstanceOf(RedisAdapter)
    await a.subscribe('s', () => {})
    await Promise.all([a.close(), a.close()])
    await a.close()
    expect(a.client.status).toBe('end')
    await expect(a.publish(dispatch('s'))).rejects.toBeInstanceOf(AdapterError)
    await expect(a.subscribe('s', () => {})).rejects.toBeInstanceOf(AdapterError)
  })

  it('uses a client passed in without closing it or leaving listeners on it', async () => {
    const client = scope.redis()
    await client.ping()
    const listeners = () => client.listenerCount('error') + client.listenerCount('ready') + client.listenerCount('close')
    const before = listeners()
    const namespace = scope.namespace()
    const a = new RedisAdapter(client, { namespace })
    const b = scope.adapter({ namespace })
    const got: string[] = []
    await b.subscribe('b', (e) => void got.push(e.origin))
    await a.subscribe('a', () => {})
    await a.publish(dispatch('a'))
    await waitFor('delivery', () => got.length === 1)
    expect((await a.store.append('s', { frame: 'x' })).seq).toBe(1)
    await a.close()
    expect(client.status).toBe('ready')
    expect(await client.ping()).toBe('PONG')
    expect(listeners()).toBe(before)
  })

  it('rejects invalid options with ConfigError', () => {
    expect(() => new RedisAdapter(LOCAL_REDIS_URL, { namespace: 'a{b}' })).toThrow(/braces/)
    expect(() => new RedisAdapter(LOCAL_REDIS_URL, { namespace: '' })).toThrow(/namespace/)
    expect(() => new RedisAdapter({ lazyConnect: true }, { presenceTtlMs: 0 })).toThrow(/presenceTtlMs/)
    expect(() => new RedisAdapter(LOCAL_REDIS_URL, { replicationChannels: 0 })).toThrow(/replicationChannels/)
    expect(() => new RedisAdapter(LOCAL_REDIS_URL, { portal: { maxPending: 0 } })).toThrow(ConfigError)
    expect(() => new RedisAdapter(LOCAL_REDIS_URL, { retention: { maxEntries: -1 } })).toThrow(ConfigError)
  })
})
