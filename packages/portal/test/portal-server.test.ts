import { Message } from '@mesa/core'
import { MemoryAdapter } from '@mesa/core/server'
import { Mesa } from '@mesa/server'
import { afterEach, describe, expect, it } from 'vitest'
import { authenticatedClient, Scope, sendRequest, waitFor } from '@mesa/test-kit'
import { Portal, type PortalOptions, RequestRejection } from '../src/index.js'

type Incoming = { SAY: { n: number } }

const scope = new Scope()
afterEach(() => scope.cleanup())

/** A real Mesa server with the portal on, sharing a memory adapter with the portals of the test. */
async function serverWithAdapter(): Promise<{ adapter: MemoryAdapter; url: string; mesa: Mesa }> {
  const adapter = new MemoryAdapter({ portal: { retryDelayMs: 5 } })
  scope.defer(() => adapter.close())
  const mesa = new Mesa({ port: 0, host: '127.0.0.1', adapter, portal: { enabled: true } })
  mesa.on('connection', (client) => {
    client.authenticate((data, done) => done(null, { id: String(data.id), user: { id: data.id } }))
  })
  scope.defer(() => mesa.close())
  await mesa.listening()
  return { adapter, url: `ws://127.0.0.1:${mesa.port}`, mesa }
}

type Requests = { LOOKUP: { request: { q: string }; reply: { found: string; for: string | undefined } } }

function portal(adapter: MemoryAdapter, options: PortalOptions<Incoming, Requests> = {}): Portal<Incoming, Requests> {
  const created = new Portal<Incoming, Requests>(adapter, options)
  scope.defer(() => created.close())
  return created
}

/** A v2 raw client authenticated as `userId`, terminated after the test. */
const client = (url: string, userId: string) => authenticatedClient(scope, url, userId)

describe('Portal with a Mesa server', () => {
  it('gets connection, authentication, message and disconnection events from real sockets', async () => {
    const { adapter, url } = await serverWithAdapter()
    const p = portal(adapter)
    const seen: string[] = []
    let connectionClient: string | undefined
    p.on('connection', (clientId) => {
      connectionClient = clientId
      seen.push('connection')
    })
    p.on('authentication', (userId, clientId) => seen.push(`authentication ${userId} ${clientId === connectionClient}`))
    p.on('message', (message, userId) => seen.push(`message ${message.type} ${message.data.n} ${userId}`))
    p.on('disconnection', (userId) => seen.push(`disconnection ${userId}`))
    await p.whenReady()

    const alice = await client(url, 'alice')
    alice.dispatch('SAY', { n: 1 })
    await waitFor('the message', () => seen.length === 3)
    await alice.close()
    await waitFor('the disconnection', () => seen.length === 4)
    expect(seen).toEqual(['connection', 'authentication alice true', 'message SAY 1 alice', 'disconnection alice'])
  })

  it('gives each event to exactly one of two portals and every event to a reportAllEvents portal', async () => {
    const { adapter, url } = await serverWithAdapter()
    const handled = new Map<string, number[]>([
      ['a', []],
      ['b', []],
    ])
    for (const id of ['a', 'b']) {
      const p = portal(adapter, { id })
      p.on('message', (message) => handled.get(id)!.push(message.data.n))
      await p.whenReady()
    }
    const observed: number[] = []
    const observer = portal(adapter, { id: 'observer', reportAllEvents: true })
    observer.on('message', (message) => observed.push(message.data.n))
    await observer.whenReady()

    const bob = await client(url, 'bob')
    for (let n = 0; n < 20; n++) bob.dispatch('SAY', { n })
    const all = () => [...handled.values()].flat()
    await waitFor('20 messages handled and observed', () => all().length === 20 && observed.length === 20)
    const expected = Array.from({ length: 20 }, (_, n) => n)
    expect([...all()].sort((x, y) => x - y)).toEqual(expected)
    expect(handled.get('a')!.length).toBeGreaterThan(0)
    expect(handled.get('b')!.length).toBeGreaterThan(0)
    expect([...observed].sort((x, y) => x - y)).toEqual(expected)
  })

  it('gives the event to another portal when the one handling it is closed mid-event', async () => {
    const { adapter, url } = await serverWithAdapter()
    const taken: number[] = []
    const first = portal(adapter, {
      id: 'first',
      handler: (event) => {
        if (event.kind !== 'message') return
        taken.push(event.message.data.n)
        return new Promise<void>(() => {})
      },
    })
    await first.whenReady()
    const carol = await client(url, 'carol')
    carol.dispatch('SAY', { n: 42 })
    await waitFor('the first portal to take the message', () => taken.length === 1)

    const second = portal(adapter, { id: 'second' })
    const got: number[] = []
    second.on('message', (message) => got.push(message.data.n))
    await second.whenReady()
    expect(got).toEqual([])
    await first.close()
    await waitFor('the second portal to get it', () => got.length === 1)
    expect(got).toEqual([42])
  })

  it('keeps events while no portal runs and delivers them when one starts', async () => {
    const { adapter, url } = await serverWithAdapter()
    const dave = await client(url, 'dave')
    for (let n = 0; n < 5; n++) dave.dispatch('SAY', { n })
    await waitFor('the events to be queued', () => adapter.portal.pendingCount >= 7)

    const late = portal(adapter)
    const got: number[] = []
    late.on('message', (message) => got.push(message.data.n))
    await waitFor('the waiting messages', () => got.length === 5)
    expect(got).toEqual([0, 1, 2, 3, 4])
  })

  it('answers a client request no server handler takes: the reply reaches the socket as op 41', async () => {
    const { adapter, url } = await serverWithAdapter()
    const p = portal(adapter)
    p.on('request', async (request, userId) => {
      if (request.data.q === 'nothing') throw new RequestRejection('not-found', `nothing for ${userId}`)
      return new Message(0, { found: request.data.q, for: userId }, 'LOOKUP_RESULT')
    })
    await p.whenReady()
    const erin = await client(url, 'erin')
    expect(await sendRequest(erin, 'LOOKUP', { q: 'x' }, 1)).toEqual({
      op: 41,
      d: { found: 'x', for: 'erin' },
      t: 'LOOKUP_RESULT',
      x: { re: 1 },
    })
    expect(await sendRequest(erin, 'LOOKUP', { q: 'nothing' }, 2)).toEqual({
      op: 41,
      d: {},
      x: { re: 2, err: { code: 'not-found', message: 'nothing for erin' } },
    })
  })

  it('gets subscribe and unsubscribe events of real sockets, the unsubscribe also when the socket closes', async () => {
    const { adapter, url, mesa } = await serverWithAdapter()
    const p = portal(adapter)
    const seen: string[] = []
    p.on('subscribe', (channel, userId) => seen.push(`+${channel} ${userId}`))
    p.on('unsubscribe', (channel, userId) => seen.push(`-${channel} ${userId}`))
    await p.whenReady()
    const fay = await client(url, 'fay')
    const server = mesa.clients.find((c) => c.userId === 'fay')!
    await server.subscribe('room:1')
    await server.subscribe('room:2')
    server.unsubscribe('room:1')
    await waitFor('three events', () => seen.length === 3)
    await fay.close()
    await waitFor('the last unsubscribe', () => seen.length === 4)
    expect(seen).toEqual(['+room:1 fay', '+room:2 fay', '-room:1 fay', '-room:2 fay'])
  })
})
