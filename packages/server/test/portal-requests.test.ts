import { encodeFrame, MemoryAdapter, type PortalEvent, type ReplyEnvelope } from '@mesa/core/server'
import { delay, replyTo, sendRequest, waitFor } from '@mesa/test-kit'
import { describe, expect, it } from 'vitest'
import type { AdapterError } from '../src/index.js'
import { connect, startServer, track } from './helpers.js'

/** An adapter the test passes to its server; closed after the server. */
function sharedAdapter(options: ConstructorParameters<typeof MemoryAdapter>[0] = {}): MemoryAdapter {
  return track(new MemoryAdapter(options))
}

/** Takes the portal queue's `request` events, as a Portal would, answering none by itself. */
async function portalRequests(adapter: MemoryAdapter): Promise<Extract<PortalEvent, { kind: 'request' }>[]> {
  const requests: Extract<PortalEvent, { kind: 'request' }>[] = []
  track(
    await adapter.portal.consume({ consumerId: 'test-portal' }, (event) => {
      if (event.kind === 'request') requests.push(event)
    }),
  )
  return requests
}

/** The reply envelope a portal publishes for `event`. */
function reply(event: Extract<PortalEvent, { kind: 'request' }>, answer: Pick<ReplyEnvelope, 'frame' | 'error'>): ReplyEnvelope {
  return { kind: 'reply', origin: 'test-portal', target: event.serverId, socketId: event.clientId, requestId: event.requestId, ...answer }
}

describe('requests answered by portals (portal.enabled)', () => {
  it('a request no handler takes becomes a portal request event; the reply envelope is written as op 41, first reply wins', async () => {
    const adapter = sharedAdapter()
    const { mesa, url } = await startServer({ adapter, portal: { enabled: true } })
    mesa.on('connection', (client) => client.authenticate((_, done) => done(null, { id: 'ada', user: {} })))
    const requests = await portalRequests(adapter)
    const socket = await connect(url, { v2: true })
    await socket.authenticate({})
    socket.send({ op: 40, t: 'LOOKUP', d: { q: 'x' }, x: { id: 9 } })
    const [event] = await waitFor('the request event', () => (requests.length > 0 ? requests : undefined))
    expect(event).toMatchObject({
      kind: 'request',
      clientId: mesa.clients[0]!.socketId,
      serverId: mesa.id,
      userId: 'ada',
      requestId: 9,
      frame: { op: 40, t: 'LOOKUP', d: { q: 'x' }, x: { id: 9 } },
    })
    await adapter.publish(reply(event!, { frame: encodeFrame({ op: 41, d: { found: true }, t: 'LOOKUP_RESULT' }) }))
    await adapter.publish(reply(event!, { frame: encodeFrame({ op: 41, d: { found: 'again' } }) }))
    expect(await replyTo(socket, 9)).toEqual({ op: 41, d: { found: true }, t: 'LOOKUP_RESULT', x: { re: 9 } })
    await delay(20)
    expect(socket.frames.filter((f) => f.op === 41)).toHaveLength(1)
  })

  it("passes a portal's error on, and ignores replies addressed to another server or an unknown request", async () => {
    const adapter = sharedAdapter()
    const { url } = await startServer({ adapter, portal: { enabled: true } })
    const requests = await portalRequests(adapter)
    const socket = await connect(url, { v2: true })
    socket.send({ op: 40, t: 'LOOKUP', d: {}, x: { id: 1 } })
    const [event] = await waitFor('the request event', () => (requests.length > 0 ? requests : undefined))
    await adapter.publish({ ...reply(event!, { frame: encodeFrame({ op: 41, d: { wrong: 'server' } }) }), target: 'another-server' })
    await adapter.publish({ ...reply(event!, { frame: encodeFrame({ op: 41, d: { wrong: 'request' } }) }), requestId: 2 })
    await adapter.publish(reply(event!, { error: { code: 'not-found', message: 'nothing matches' } }))
    expect((await replyTo(socket, 1)).x).toEqual({ re: 1, err: { code: 'not-found', message: 'nothing matches' } })
    expect(socket.frames.filter((f) => f.op === 41)).toHaveLength(1)
  })

  it("answers rejected, and reports, when a portal's reply is not an op 41 frame", async () => {
    const adapter = sharedAdapter()
    const { mesa, url } = await startServer({ adapter, portal: { enabled: true } })
    const errors: AdapterError[] = []
    mesa.on('error', (error) => errors.push(error as AdapterError))
    const requests = await portalRequests(adapter)
    const socket = await connect(url, { v2: true })
    socket.send({ op: 40, t: 'LOOKUP', d: {}, x: { id: 1 } })
    const [event] = await waitFor('the request event', () => (requests.length > 0 ? requests : undefined))
    await adapter.publish(reply(event!, { frame: encodeFrame({ op: 0, d: {} }) }))
    expect((await replyTo(socket, 1)).x).toEqual({ re: 1, err: { code: 'rejected', message: 'the request failed' } })
    expect(errors.map((e) => e.name)).toEqual(['AdapterError'])
  })

  it('answers timeout when no portal answers within requests.timeout (no portal running)', async () => {
    const adapter = sharedAdapter()
    const { url } = await startServer({ adapter, portal: { enabled: true }, requests: { timeout: 50 } })
    const socket = await connect(url, { v2: true })
    expect((await sendRequest(socket, 'LOOKUP', {}, 1)).x).toEqual({ re: 1, err: { code: 'timeout', message: 'no answer within 50 ms' } })
  })

  it('answers unavailable when the portal queue refuses the event (full)', async () => {
    const adapter = sharedAdapter({ portal: { maxPending: 1 } })
    const { mesa, url } = await startServer({ adapter, portal: { enabled: true }, requests: { timeout: 5000 } })
    const errors: Error[] = []
    mesa.on('error', (error) => errors.push(error))
    // The connection event fills the queue: nobody consumes it.
    const socket = await connect(url, { v2: true })
    expect((await sendRequest(socket, 'LOOKUP', {}, 1)).x).toEqual({
      re: 1,
      err: { code: 'unavailable', message: 'the request could not be passed on to a portal' },
    })
    expect(errors.map((e) => e.name)).toContain('PortalQueueFullError')
  })

  it('a handler still answers first: only requests without one go to portals', async () => {
    const adapter = sharedAdapter()
    const { mesa, url } = await startServer({ adapter, portal: { enabled: true } })
    mesa.onRequest('LOCAL', () => ({ here: true }))
    const requests = await portalRequests(adapter)
    const socket = await connect(url, { v2: true })
    expect((await sendRequest(socket, 'LOCAL', {}, 1)).d).toEqual({ here: true })
    await delay(20)
    expect(requests).toEqual([])
  })
})
