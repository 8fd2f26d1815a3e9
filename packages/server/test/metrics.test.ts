import { MemoryAdapter } from '@mesa/core/server'
import { registerMesaMetrics } from '@mesa/server/metrics'
import { authenticateInstance, delay, nextEvent, sendAcked } from '@mesa/test-kit'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { Message } from '../src/index.js'
import { acceptIds, connect, startServer } from './helpers.js'

/** The samples of a Prometheus text exposition: `name{labels}` -> value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    out.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return out
}

const adapters: MemoryAdapter[] = []
afterEach(async () => {
  await Promise.all(adapters.splice(0).map((adapter) => adapter.close()))
})

describe('@mesa/server/metrics', () => {
  it('exposes mesa.stats of several servers in one registry, labelled by server, read on scrape', async () => {
    const registry = new Registry()
    const adapter = new MemoryAdapter()
    adapters.push(adapter)
    const { mesa: busy, url } = await startServer({ id: 'busy', adapter, portal: { enabled: true } })
    const { mesa: idle } = await startServer({ id: 'idle', adapter })
    registerMesaMetrics(busy, registry)
    const unregisterIdle = registerMesaMetrics(idle, registry)
    expect(() => registerMesaMetrics(busy, registry)).toThrow(/"busy" is already registered/)

    const before = samples(await registry.metrics())
    expect(before.get('mesa_connections{server="busy",protocol="2"}')).toBe(0)
    expect(before.get('mesa_messages_in_total{server="busy"}')).toBe(0)

    busy.on('connection', (client) => client.authenticate((_, done) => done(null, { id: 'ada', user: {} })))
    const v2 = await connect(url, { v2: true })
    await v2.authenticate({})
    await connect(url)
    const received = nextEvent(busy, 'message')
    v2.send({ op: 0, d: { text: 'hi' }, t: 'SAY' })
    await received
    await busy.send(new Message(0, {}, 'ALL'))
    await v2.waitForMessages(1)
    await busy.send(new Message(0, {}, 'BAD'), ['']).catch(() => {})
    await busy.clients.find((client) => client.protocol === 2)!.subscribe('news')
    await busy.publish('news', new Message(0, {}, 'NEWS'))

    const text = await registry.metrics()
    expect(text).toContain('# TYPE mesa_messages_in_total counter')
    expect(text).toContain('# TYPE mesa_adapter_latency_seconds histogram')
    const after = samples(text)
    expect(after.get('mesa_connections{server="busy",protocol="1"}')).toBe(1)
    expect(after.get('mesa_connections{server="busy",protocol="2"}')).toBe(1)
    expect(after.get('mesa_connections_authenticated{server="busy"}')).toBe(1)
    expect(after.get('mesa_messages_in_total{server="busy"}')).toBe(1)
    expect(after.get('mesa_bytes_in_total{server="busy"}')).toBe(busy.stats.bytesIn)
    expect(after.get('mesa_messages_out_total{server="busy"}')).toBe(busy.stats.messagesOut)
    expect(after.get('mesa_bytes_out_total{server="busy"}')).toBeGreaterThan(0)
    expect(after.get('mesa_send_failures_total{server="busy"}')).toBe(1)
    expect(after.get('mesa_channel_subscriptions{server="busy"}')).toBe(1)
    expect(after.get('mesa_channels_followed{server="busy"}')).toBe(1)
    expect(after.get('mesa_publications_total{server="busy"}')).toBe(1)
    expect(after.get('mesa_publications_received_total{server="idle"}')).toBe(0)
    // No portal runs: the connection, authentication, message, the second connection and the subscription wait
    // in the queue both servers share.
    expect(after.get('mesa_portal_queue_pending{server="busy"}')).toBe(5)
    expect(after.get('mesa_portal_queue_pending{server="idle"}')).toBe(5)
    const count = after.get('mesa_adapter_latency_seconds_count{server="busy"}')!
    expect(count).toBeGreaterThanOrEqual(2)
    expect(after.get('mesa_adapter_latency_seconds_bucket{le="+Inf",server="busy"}')).toBe(count)
    expect(after.get('mesa_adapter_latency_seconds_bucket{le="0.001",server="busy"}')).toBeLessThanOrEqual(count)
    expect(after.get('mesa_adapter_latency_seconds_sum{server="busy"}')).toBeGreaterThanOrEqual(0)
    expect(after.get('mesa_messages_in_total{server="idle"}')).toBe(0)
    expect(after.get('mesa_connections{server="idle",protocol="1"}')).toBe(0)

    // JSON too (what cluster aggregation reads).
    const json = await registry.getMetricsAsJSON()
    expect(json.find((metric) => metric.name === 'mesa_adapter_latency_seconds')?.values.length).toBe(2 * 14)

    unregisterIdle()
    expect([...samples(await registry.metrics()).keys()].some((key) => key.includes('server="idle"'))).toBe(false)
  })

  it('takes its metrics out of the registry with the last server, and registers again after registry.clear()', async () => {
    const registry = new Registry()
    const { mesa } = await startServer()
    const unregister = registerMesaMetrics(mesa, registry)
    expect(await registry.metrics()).toContain('mesa_connections')
    unregister()
    unregister()
    expect(registry.getMetricsAsArray()).toHaveLength(0)
    registerMesaMetrics(mesa, registry)
    registry.clear()
    registerMesaMetrics(mesa, registry)
    expect(samples(await registry.metrics()).get(`mesa_connections_authenticated{server="${mesa.id}"}`)).toBe(0)
  })

  it('refuses a registry that has one of its names already', async () => {
    const registry = new Registry()
    const { mesa } = await startServer()
    const { Counter } = await import('prom-client')
    new Counter({ name: 'mesa_replays_total', help: 'not ours', registers: [registry] })
    expect(() => registerMesaMetrics(mesa, registry)).toThrow(/already has a metric named mesa_replays_total/)
    expect(registry.getMetricsAsArray().map((metric) => (metric as unknown as { name: string }).name)).toEqual(['mesa_replays_total'])
  })

  it("counts the acknowledged sends the adapter's deduplicator forgot early (mesa_dedupe_evicted_total)", async () => {
    const registry = new Registry()
    const adapter = new MemoryAdapter({ dedupe: { maxClaims: 1 } })
    adapters.push(adapter)
    const { mesa, url } = await startServer({ adapter })
    acceptIds(mesa)
    registerMesaMetrics(mesa, registry)
    const socket = await connect(url, { v2: true })
    await authenticateInstance(socket, { id: 'ada' }, 'cid-a')
    for (const id of [1, 2, 3]) expect((await sendAcked(socket, 'NOTE', {}, id)).x).toEqual({ re: id })
    expect(samples(await registry.metrics()).get(`mesa_dedupe_evicted_total{server="${mesa.id}"}`)).toBe(2)
  })

  it('leaves out the portal queue depth when the queue cannot tell, without failing the scrape', async () => {
    const registry = new Registry()
    const adapter = new MemoryAdapter()
    adapters.push(adapter)
    adapter.portal.pending = () => Promise.reject(new Error('redis down'))
    const { mesa } = await startServer({ adapter })
    registerMesaMetrics(mesa, registry)
    const scraped = samples(await registry.metrics())
    expect(scraped.has(`mesa_portal_queue_pending{server="${mesa.id}"}`)).toBe(false)
    expect(scraped.get(`mesa_connections{server="${mesa.id}",protocol="1"}`)).toBe(0)
  })
})

describe('mesa.stats counters', () => {
  it('counts replays (only what is written) and resyncs', async () => {
    const { mesa, url } = await startServer({ sync: { enabled: true } })
    mesa.on('connection', (client) => client.authenticate((_, done) => done(null, { id: 'ada', user: {} })))
    const first = await connect(url, { v2: true })
    const ack = await first.authenticate({})
    const heads = (ack.x as { streams: Record<'user' | 'global', { epoch: string; seq: number }> }).streams
    first.close()
    await nextEvent(mesa, 'disconnection')

    await mesa.send(new Message(0, { n: 1 }, 'FOR_ADA'), ['ada'])
    await mesa.send(new Message(0, { n: 2 }, 'FOR_ADA'), ['ada'])
    // Stored in the global stream, but not for ada: her resume skips it.
    await mesa.send(new Message(0, {}, 'NOT_FOR_ADA'), ['*'], ['ada'])

    const resumed = await connect(url, { v2: true })
    await resumed.authenticate({}, { resume: heads })
    await resumed.waitForMessages(2)
    await delay(50)
    expect(resumed.messages.map((frame) => frame.t)).toEqual(['FOR_ADA', 'FOR_ADA'])
    expect(mesa.stats.replays).toBe(2)
    expect(mesa.stats.resyncs).toBe(0)

    const stale = await connect(url, { v2: true })
    const refused = await stale.authenticate({}, { resume: { user: { epoch: 'another', seq: 1 } } })
    expect(refused.x).toMatchObject({ recovered: false })
    expect(mesa.stats.resyncs).toBe(1)
    expect(mesa.stats.replays).toBe(2)
  })

  it('counts failed sends, from mesa.send and client.send', async () => {
    const { mesa, url } = await startServer()
    mesa.on('error', () => {})
    const connected = nextEvent(mesa, 'connection')
    await connect(url)
    const [client] = await connected
    await expect(mesa.send({} as Message<'X', object>)).rejects.toThrow('send() takes a Message')
    await expect(client.send({} as never)).rejects.toThrow('send() takes a Message')
    expect(mesa.stats.sendFailures).toBe(2)
  })
})
