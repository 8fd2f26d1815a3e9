import { AdapterError, Message } from '@mesa/core'
import { type Envelope, MemoryAdapter, type PortalEvent, type ReplyEnvelope } from '@mesa/core/server'
import { delay, Scope, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { Portal, type PortalDelivery, PortalHandlerError, type PortalOptions, RequestRejection } from '../src/index.js'

type Requests = { GET_ORDER: { request: { orderId: string }; reply: object }; PING: { request: Record<string, never>; reply: { pong: boolean } } }

const scope = new Scope()
afterEach(() => scope.cleanup())

/** A memory adapter, and the envelopes the server `s1` (the one holding the requesting sockets) receives. */
async function setup(): Promise<{ adapter: MemoryAdapter; replies: ReplyEnvelope[] }> {
  const adapter = new MemoryAdapter({ portal: { retryDelayMs: 5, claimTimeoutMs: 60_000 } })
  scope.defer(() => adapter.close())
  const replies: ReplyEnvelope[] = []
  await adapter.subscribe('s1', (envelope: Envelope) => {
    if (envelope.kind === 'reply') replies.push(envelope)
  })
  return { adapter, replies }
}

function portal(adapter: MemoryAdapter, options: PortalOptions<never, Requests> = {}): Portal<never, Requests> {
  const created = new Portal<never, Requests>(adapter, options)
  scope.defer(() => created.close())
  return created
}

function request(requestId: number, type: keyof Requests | 'OTHER' = 'GET_ORDER', userId = 'u1'): PortalEvent {
  const frame = { op: 40, t: type, d: type === 'GET_ORDER' ? { orderId: `o${requestId}` } : {}, x: { id: requestId } }
  return { kind: 'request', clientId: 'socket-1', serverId: 's1', userId, requestId, frame, time: 1000 + requestId }
}

const channelEvent = (kind: 'subscribe' | 'unsubscribe', channel: string, userId?: string): PortalEvent => ({
  kind,
  clientId: 'socket-1',
  serverId: 's1',
  ...(userId === undefined ? {} : { userId }),
  channel,
  time: 2000,
})

async function settled(adapter: MemoryAdapter): Promise<void> {
  await waitFor('the queue to settle', () => adapter.portal.inFlightCount === 0 && adapter.portal.pendingCount === 0)
}

describe('Portal subscribe and unsubscribe events', () => {
  it('reach listeners and the handler, with the channel first', async () => {
    const { adapter } = await setup()
    const seen: string[] = []
    const deliveries: PortalDelivery<never, Requests>[] = []
    const p = portal(adapter, { handler: (delivery) => void deliveries.push(delivery) })
    p.on('subscribe', (channel, userId, clientId, info) => seen.push(`+${channel} ${userId} ${clientId} ${info.serverId}`))
    p.on('unsubscribe', (channel, userId) => seen.push(`-${channel} ${userId}`))
    await p.whenReady()
    await adapter.portal.push(channelEvent('subscribe', 'room:1', 'alice'))
    await adapter.portal.push(channelEvent('unsubscribe', 'room:1'))
    await waitFor('both deliveries', () => deliveries.length === 2)
    expect(seen).toEqual(['+room:1 alice socket-1 s1', '-room:1 undefined'])
    expect(deliveries).toEqual([
      { kind: 'subscribe', channel: 'room:1', userId: 'alice', clientId: 'socket-1', serverId: 's1', time: 2000 },
      { kind: 'unsubscribe', channel: 'room:1', userId: undefined, clientId: 'socket-1', serverId: 's1', time: 2000 },
    ])
    await settled(adapter)
  })

  it('are given again when an async listener rejects, like the other events', async () => {
    const { adapter } = await setup()
    const p = portal(adapter)
    const errors: Error[] = []
    p.on('error', (error) => errors.push(error))
    const joined: string[] = []
    p.on('subscribe', async (channel) => {
      if (errors.length === 0) throw new Error('database unavailable')
      joined.push(channel)
    })
    await p.whenReady()
    await adapter.portal.push(channelEvent('subscribe', 'room:9', 'bob'))
    await waitFor('the second attempt', () => joined.length === 1)
    expect(errors[0]).toBeInstanceOf(PortalHandlerError)
    expect((errors[0] as PortalHandlerError).event.kind).toBe('subscribe')
    await settled(adapter)
  })
})

describe('Portal request events', () => {
  it('publishes what the listener returns as the reply, for the requesting server and socket', async () => {
    const { adapter, replies } = await setup()
    const p = portal(adapter)
    const asked: string[] = []
    p.on('request', (message, userId, clientId) => {
      asked.push(`${message.type} ${userId} ${clientId}`)
      if (message.type === 'GET_ORDER') return new Message(0, { id: message.data.orderId, total: 12 }, 'ORDER')
      return { pong: true }
    })
    await p.whenReady()
    await adapter.portal.push(request(1))
    await adapter.portal.push(request(2, 'PING'))
    await waitFor('two replies', () => replies.length === 2)
    expect(asked).toEqual(['GET_ORDER u1 socket-1', 'PING u1 socket-1'])
    expect(replies).toEqual([
      { kind: 'reply', origin: p.id, target: 's1', socketId: 'socket-1', requestId: 1, frame: '{"op":41,"d":{"id":"o1","total":12},"t":"ORDER"}' },
      { kind: 'reply', origin: p.id, target: 's1', socketId: 'socket-1', requestId: 2, frame: '{"op":41,"d":{"pong":true},"t":"PING"}' },
    ])
    await settled(adapter)
  })

  it('takes the first answer of async listeners, else the handler’s, which sees every request', async () => {
    const { adapter, replies } = await setup()
    const handled: number[] = []
    const p = portal(adapter, {
      handler: async (delivery) => {
        if (delivery.kind !== 'request') return
        handled.push(delivery.requestId)
        return { from: 'handler' }
      },
    })
    p.on('request', async () => undefined)
    p.on('request', async (message) => (message.type === 'GET_ORDER' ? { from: 'listener' } : undefined))
    p.on('request', () => ({ from: 'a later listener' }))
    await p.whenReady()
    await adapter.portal.push(request(1))
    await waitFor('the reply', () => replies.length === 1)
    expect(replies[0]?.frame).toBe('{"op":41,"d":{"from":"listener"},"t":"GET_ORDER"}')

    const only = portal(adapter, { id: 'handler-only', handler: (delivery) => (delivery.kind === 'request' ? { from: 'handler' } : undefined) })
    await p.close()
    await only.whenReady()
    await adapter.portal.push(request(2))
    await waitFor('the second reply', () => replies.length === 2)
    expect(replies[1]?.frame).toBe('{"op":41,"d":{"from":"handler"},"t":"GET_ORDER"}')
    expect(handled).toEqual([1])
  })

  it('refuses with the code and message of a RequestRejection, without reporting it', async () => {
    const { adapter, replies } = await setup()
    const p = portal(adapter)
    const errors: Error[] = []
    p.on('error', (error) => errors.push(error))
    p.on('request', async (message) => {
      if (message.type === 'GET_ORDER') throw new RequestRejection('not-found', `no order ${message.data.orderId}`)
      throw Object.assign(new Error('quota exceeded'), { expose: true, code: 'quota' })
    })
    await p.whenReady()
    await adapter.portal.push(request(3))
    await adapter.portal.push(request(4, 'PING'))
    await waitFor('both refusals', () => replies.length === 2)
    expect(replies.map(({ requestId, error, frame }) => ({ requestId, error, frame }))).toEqual([
      { requestId: 3, error: { code: 'not-found', message: 'no order o3' }, frame: undefined },
      { requestId: 4, error: { code: 'quota', message: 'quota exceeded' }, frame: undefined },
    ])
    expect(errors).toEqual([])
    // Answered: acknowledged, never given again.
    await settled(adapter)
    expect(replies).toHaveLength(2)
  })

  it('refuses with a generic rejected, and reports the error, when a handler fails or answers nonsense', async () => {
    const { adapter, replies } = await setup()
    let answer: () => unknown = () => {
      throw new Error('database password is hunter2')
    }
    const p = portal(adapter, { handler: () => answer() as undefined })
    const errors: Error[] = []
    p.on('error', (error) => errors.push(error))
    await p.whenReady()
    await adapter.portal.push(request(5))
    await waitFor('the refusal', () => replies.length === 1)
    expect(replies[0]?.error).toEqual({ code: 'rejected', message: 'the request failed' })
    expect(errors[0]).toBeInstanceOf(PortalHandlerError)
    expect((errors[0] as PortalHandlerError).cause).toEqual(new Error('database password is hunter2'))

    answer = () => 42
    await adapter.portal.push(request(6))
    await waitFor('the second refusal', () => replies.length === 2)
    expect(replies[1]?.error).toEqual({ code: 'rejected', message: 'the request failed' })
    expect((errors[1] as PortalHandlerError).cause).toEqual(new TypeError("a request's reply must be a Message or an object, got number"))
    await settled(adapter)
    expect(replies).toHaveLength(2)
  })

  it('answers {} when its listeners return nothing, no-handler without any; a reportAllEvents portal never answers', async () => {
    const { adapter, replies } = await setup()
    const observed: number[] = []
    const observer = portal(adapter, { id: 'observer', reportAllEvents: true, handler: () => ({ from: 'observer' }) })
    observer.on('request', (_message, _userId, _clientId, info) => void observed.push(info.time))
    await observer.whenReady()
    const silent = portal(adapter, { id: 'silent' })
    silent.on('request', () => undefined)
    await silent.whenReady()
    await adapter.portal.push(request(7, 'OTHER'))
    await waitFor('the answer and the observation', () => replies.length === 1 && observed.length === 1)
    expect(replies[0]).toMatchObject({ origin: 'silent', requestId: 7, frame: '{"op":41,"d":{},"t":"OTHER"}' })

    // A portal that answers no requests (its handler deals with other events) says so.
    await silent.close()
    const other = portal(adapter, { id: 'other', handler: () => undefined })
    await other.whenReady()
    await adapter.portal.push(request(8, 'OTHER'))
    await waitFor('the second answer', () => replies.length === 2)
    expect(replies[1]).toMatchObject({
      origin: 'other',
      requestId: 8,
      error: { code: 'no-handler', message: 'no portal handler answers requests of type "OTHER"' },
    })
    await delay(20)
    expect(replies).toHaveLength(2)
  })

  it('is answered again when publishing the reply failed: the server may get two answers and keeps the first', async () => {
    const { adapter, replies } = await setup()
    const publish = adapter.publish.bind(adapter)
    let failures = 0
    // The reply goes out, but the adapter reports a failure (a Redis command that timed out after it was sent).
    adapter.publish = async (envelope) => {
      await publish(envelope)
      if (envelope.kind === 'reply' && failures++ === 0) throw new AdapterError('publish timed out', { code: 'adapter-timeout' })
    }
    const p = portal(adapter)
    const errors: Error[] = []
    p.on('error', (error) => errors.push(error))
    let calls = 0
    p.on('request', () => ({ attempt: ++calls }))
    await p.whenReady()
    await adapter.portal.push(request(9))
    await waitFor('two answers', () => replies.length === 2)
    expect(replies.map((reply) => [reply.requestId, reply.frame])).toEqual([
      [9, '{"op":41,"d":{"attempt":1},"t":"GET_ORDER"}'],
      [9, '{"op":41,"d":{"attempt":2},"t":"GET_ORDER"}'],
    ])
    expect(errors[0]).toBeInstanceOf(PortalHandlerError)
    expect((errors[0] as PortalHandlerError).cause).toMatchObject({ code: 'adapter-timeout' })
    await settled(adapter)
  })
})
