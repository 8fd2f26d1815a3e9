import { type Deduplicator, MemoryAdapter } from '@mesa/core/server'
import { authenticateInstance, delay, nextEvent, type RawClient, sendAcked, type WireFrame, waitFor } from '@mesa/test-kit'
import { describe, expect, it } from 'vitest'
import { CloseCode, type Mesa, RequestRejection, type ServerError } from '../src/index.js'
import { acceptIds, connect, startServer, track } from './helpers.js'

/** The data of the messages these tests send. */
type Data = { n?: number; exposed?: boolean }

/** A v2 client authenticated as `id`, client instance `cid`. */
async function instance(url: string, id: string, cid: string): Promise<RawClient> {
  const socket = await connect(url, { v2: true })
  await authenticateInstance(socket, { id }, cid)
  return socket
}

/** Records every message the server's `message` listeners see, as `type:n`. */
function handled(mesa: Mesa): string[] {
  const seen: string[] = []
  mesa.on('message', (message) => void seen.push(`${message.type}:${String((message.data as Data).n)}`))
  return seen
}

/** Sends an acknowledged message until it is acknowledged, again after each `busy`, as a client does. */
async function sendUntilAcknowledged(socket: RawClient, type: string, data: Record<string, unknown>, id: number): Promise<WireFrame> {
  for (;;) {
    const reply = await sendAcked(socket, type, data, id)
    if ((reply.x?.err as { code?: string } | undefined)?.code !== 'busy') return reply
    await delay(20)
  }
}

/** A gate a listener waits on: `open()` lets every waiter through. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open: () => void = () => {}
  const wait = new Promise<void>((resolve) => (open = resolve))
  return { wait, open }
}

describe('acknowledged sends (op 0 with x.id)', () => {
  it('acknowledges with op 41 once listeners and middleware finished, their promises included', async () => {
    const { mesa, url } = await startServer()
    acceptIds(mesa)
    const steps: string[] = []
    mesa.on('message', async (message) => {
      await delay(20)
      steps.push(`listener ${message.type}`)
    })
    mesa.use(() => ({
      async onMessageReceived(message) {
        await delay(30)
        steps.push(`middleware ${message.type}`)
      },
    }))
    const socket = await instance(url, 'ada', 'cid-a')
    const reply = await sendAcked(socket, 'CHAT', { n: 1 }, 1)
    expect(reply).toEqual({ op: 41, d: {}, x: { re: 1 } })
    expect(steps).toEqual(['listener CHAT', 'middleware CHAT'])
    expect(mesa.stats.messagesIn).toBe(1)
  })

  it('a retransmission after a cut link is handled once: busy while the first attempt runs, acknowledged after', async () => {
    const { mesa, url } = await startServer()
    acceptIds(mesa)
    const seen = handled(mesa)
    const slow = gate()
    const started = new Promise<void>((resolve) => {
      mesa.on('message', async () => {
        resolve()
        await slow.wait
      })
    })
    const first = await instance(url, 'ada', 'cid-a')
    first.send({ op: 0, t: 'CHAT', d: { n: 1 }, x: { id: 1 } })
    await started
    // The link dies before the acknowledgement: the client reconnects and sends the same id again.
    first.terminate()
    const second = await instance(url, 'ada', 'cid-a')
    expect((await sendAcked(second, 'CHAT', { n: 1 }, 1)).x).toEqual({
      re: 1,
      err: { code: 'busy', message: 'the message is being handled; send it again later' },
    })
    slow.open()
    expect((await sendUntilAcknowledged(second, 'CHAT', { n: 1 }, 1)).x).toEqual({ re: 1 })
    expect((await sendAcked(second, 'CHAT', { n: 2 }, 2)).x).toEqual({ re: 2 })
    expect(seen).toEqual(['CHAT:1', 'CHAT:2'])
  })

  it('on two servers sharing one adapter, a retry that lands on the other server is handled once', async () => {
    const adapter = track(new MemoryAdapter())
    const one = await startServer({ adapter })
    const two = await startServer({ adapter })
    acceptIds(one.mesa)
    acceptIds(two.mesa)
    const seenOne = handled(one.mesa)
    const seenTwo = handled(two.mesa)
    const slow = gate()
    one.mesa.on('message', () => slow.wait)
    const onOne = await instance(one.url, 'ada', 'cid-a')
    onOne.send({ op: 0, t: 'CHAT', d: { n: 1 }, x: { id: 1 } })
    await waitFor('server one to handle it', () => seenOne.length === 1)
    onOne.terminate()
    const onTwo = await instance(two.url, 'ada', 'cid-a')
    expect((await sendAcked(onTwo, 'CHAT', { n: 1 }, 1)).x?.err).toMatchObject({ code: 'busy' })
    slow.open()
    expect((await sendUntilAcknowledged(onTwo, 'CHAT', { n: 1 }, 1)).x).toEqual({ re: 1 })
    expect([seenOne, seenTwo]).toEqual([['CHAT:1'], []])
  })

  it('remembers at most dedupe.maxClaims handled sends (MemoryAdapter): past it the oldest is forgotten, and its retransmission handled again', async () => {
    const adapter = track(new MemoryAdapter({ dedupe: { maxClaims: 2 } }))
    const { mesa, url } = await startServer({ adapter })
    acceptIds(mesa)
    const seen = handled(mesa)
    const socket = await instance(url, 'ada', 'cid-a')
    for (const n of [1, 2, 3]) expect((await sendAcked(socket, 'CHAT', { n }, n)).x).toEqual({ re: n })
    // The third claim went beyond the bound: the first was forgotten before its window ended.
    expect(adapter.dedupe.evicted).toBe(1)
    expect((await sendAcked(socket, 'CHAT', { n: 3 }, 3)).x).toEqual({ re: 3 })
    expect((await sendAcked(socket, 'CHAT', { n: 2 }, 2)).x).toEqual({ re: 2 })
    expect(seen).toEqual(['CHAT:1', 'CHAT:2', 'CHAT:3'])
    expect((await sendAcked(socket, 'CHAT', { n: 1 }, 1)).x).toEqual({ re: 1 })
    expect(seen).toEqual(['CHAT:1', 'CHAT:2', 'CHAT:3', 'CHAT:1'])
  })

  it('a server that never finishes (stuck or dead) keeps the claim for acks.lease only: then the retry is handled elsewhere', async () => {
    const adapter = track(new MemoryAdapter())
    const one = await startServer({ adapter, acks: { lease: 100 } })
    const two = await startServer({ adapter, acks: { lease: 100 } })
    acceptIds(one.mesa)
    acceptIds(two.mesa)
    const seenTwo = handled(two.mesa)
    const started = new Promise<void>((resolve) => one.mesa.on('message', () => new Promise<void>(() => resolve())))
    const onOne = await instance(one.url, 'ada', 'cid-a')
    onOne.send({ op: 0, t: 'CHAT', d: { n: 1 }, x: { id: 1 } })
    await started
    onOne.terminate()
    const onTwo = await instance(two.url, 'ada', 'cid-a')
    expect((await sendAcked(onTwo, 'CHAT', { n: 1 }, 1)).x?.err).toMatchObject({ code: 'busy' })
    await delay(150)
    expect((await sendAcked(onTwo, 'CHAT', { n: 1 }, 1)).x).toEqual({ re: 1 })
    expect(seenTwo).toEqual(['CHAT:1'])
  })

  it('a failing listener gets the send answered rejected and the claim abandoned, so a retry is handled again', async () => {
    const { mesa, url } = await startServer()
    acceptIds(mesa)
    const errors: ServerError[] = []
    mesa.on('error', (error) => errors.push(error as ServerError))
    let failures = 1
    const seen = handled(mesa)
    mesa.on('message', async (message) => {
      if ((message.data as Data).exposed) throw new RequestRejection('too-long', 'at most 500 characters')
      if (failures-- > 0) throw new Error('db down')
    })
    const socket = await instance(url, 'ada', 'cid-a')
    expect((await sendAcked(socket, 'CHAT', { n: 1 }, 1)).x).toEqual({
      re: 1,
      err: { code: 'rejected', message: 'a handler of the message failed' },
    })
    expect(errors.map((e) => e.code)).toEqual(['handler-failed'])
    expect((await sendAcked(socket, 'CHAT', { n: 1 }, 1)).x).toEqual({ re: 1 })
    expect((await sendAcked(socket, 'CHAT', { n: 2, exposed: true }, 2)).x).toEqual({
      re: 2,
      err: { code: 'too-long', message: 'at most 500 characters' },
    })
    expect(seen).toEqual(['CHAT:1', 'CHAT:1', 'CHAT:2'])
  })

  it("keeps a socket's messages in order: plain messages wait behind acknowledged ones", async () => {
    const { mesa, url } = await startServer()
    acceptIds(mesa)
    const seen = handled(mesa)
    mesa.on('message', (message) => ((message.data as Data).n === 1 ? delay(30) : undefined))
    const socket = await instance(url, 'ada', 'cid-a')
    socket.send({ op: 0, t: 'CHAT', d: { n: 1 }, x: { id: 1 } })
    socket.dispatch('CHAT', { n: 2 })
    const third = sendAcked(socket, 'CHAT', { n: 3 }, 2)
    socket.dispatch('CHAT', { n: 4 })
    await third
    await waitFor('the last plain message', () => seen.length === 4)
    expect(seen).toEqual(['CHAT:1', 'CHAT:2', 'CHAT:3', 'CHAT:4'])
  })

  it('with portal.enabled, acknowledges once the portal queue stored the message; a queue that refuses it: unavailable, nothing handled', async () => {
    const adapter = track(new MemoryAdapter({ portal: { maxPending: 4 } }))
    const { mesa, url } = await startServer({ adapter, portal: { enabled: true } })
    acceptIds(mesa)
    const errors: Error[] = []
    mesa.on('error', (error) => errors.push(error))
    const seen = handled(mesa)
    const socket = await instance(url, 'ada', 'cid-a')
    await waitFor('connection and authentication events', async () => (await adapter.portal.pending()) === 2)
    expect((await sendAcked(socket, 'CHAT', { n: 1 }, 1)).x).toEqual({ re: 1 })
    expect(await adapter.portal.pending()).toBe(3)
    socket.dispatch('FILL', { n: 0 })
    await waitFor('the queue to fill', async () => (await adapter.portal.pending()) === 4)
    expect((await sendAcked(socket, 'CHAT', { n: 2 }, 2)).x).toEqual({
      re: 2,
      err: { code: 'unavailable', message: 'the message could not be queued for portals; send it again later' },
    })
    expect(seen).toEqual(['CHAT:1', 'FILL:0'])
    expect(errors.map((e) => e.name)).toEqual(['PortalQueueFullError'])
    // Abandoned: once the queue has room the retry is handled.
    const consumer = await adapter.portal.consume({ consumerId: 'drain' }, () => {})
    await waitFor('the queue to drain', async () => (await adapter.portal.pending()) === 0)
    await consumer.close()
    expect((await sendAcked(socket, 'CHAT', { n: 2 }, 2)).x).toEqual({ re: 2 })
    expect(seen).toEqual(['CHAT:1', 'FILL:0', 'CHAT:2'])
  })

  it('answers unavailable, handling nothing, when the deduplicator fails', async () => {
    const adapter = track(new MemoryAdapter())
    const failing: Deduplicator = {
      begin: () => Promise.reject(new Error('redis: connection lost')),
      complete: () => Promise.resolve(),
      abandon: () => Promise.resolve(),
    }
    Object.defineProperty(adapter, 'dedupe', { value: failing })
    const { mesa, url } = await startServer({ adapter })
    acceptIds(mesa)
    const errors: Error[] = []
    mesa.on('error', (error) => errors.push(error))
    const seen = handled(mesa)
    const socket = await instance(url, 'ada', 'cid-a')
    expect((await sendAcked(socket, 'CHAT', { n: 1 }, 1)).x?.err).toEqual({
      code: 'unavailable',
      message: 'the message could not be checked for duplicates; send it again later',
    })
    expect(seen).toEqual([])
    expect(errors.map((e) => e.message)).toEqual(['redis: connection lost'])
  })

  it('needs x.cid from op 2 (invalid), and an authenticated socket under authentication.required (not-authenticated)', async () => {
    const { mesa, url } = await startServer({ authentication: { required: true } })
    acceptIds(mesa)
    const seen = handled(mesa)
    const anonymous = await connect(url, { v2: true })
    anonymous.send({ op: 2, d: { id: 'x' }, x: { cid: 'cid-x' } })
    // Sent before op 22 could come back: the socket is not authenticated yet.
    const early = await sendAcked(anonymous, 'CHAT', { n: 0 }, 1)
    expect(early.x?.err).toEqual({ code: 'not-authenticated', message: 'authenticate before sending' })
    const noCid = await connect(url, { v2: true })
    await noCid.authenticate({ id: 'ada' })
    expect((await sendAcked(noCid, 'CHAT', { n: 1 }, 1)).x?.err).toEqual({
      code: 'invalid',
      message: 'acknowledged sends need x.cid in op 2',
    })
    expect(seen).toEqual([])
  })

  it('closes a socket whose acknowledged send has no valid id, or whose x.cid is not an id (4000)', async () => {
    const { mesa, url } = await startServer()
    acceptIds(mesa)
    const errors: Error[] = []
    mesa.on('error', (error) => errors.push(error))
    const socket = await instance(url, 'ada', 'cid-a')
    socket.send({ op: 0, t: 'CHAT', d: {}, x: { id: 'one' } })
    expect(await socket.waitClose()).toEqual({ code: CloseCode.InvalidFrame, reason: 'an acknowledged send needs x.id, a positive integer' })
    const badCid = await connect(url, { v2: true })
    badCid.send({ op: 2, d: { id: 'ada' }, x: { cid: 'not an id!' } })
    expect(await badCid.waitClose()).toEqual({ code: CloseCode.InvalidFrame, reason: 'x.cid must be 1 to 64 letters, digits, _ or -' })
    expect(errors.map((e) => e.name)).toEqual(['ProtocolError', 'ProtocolError'])
  })

  it('leaves x.id of a Mesa 1.x socket alone: a plain message, never answered', async () => {
    const { mesa, url } = await startServer()
    acceptIds(mesa)
    const seen = handled(mesa)
    const legacy = await connect(url)
    await legacy.authenticate({ id: 'ada' })
    legacy.send({ op: 0, t: 'CHAT', d: { n: 1 }, x: { id: 1 } })
    await waitFor('the message', () => seen.length === 1)
    await delay(20)
    expect(legacy.frames.some((f) => f.op === 41)).toBe(false)
  })

  it('bounds what a socket has in flight (acks.maxInFlight): a send beyond is answered too-many-requests, a plain message beyond closes with 4006', async () => {
    const { mesa, url } = await startServer({ acks: { maxInFlight: 2 } })
    acceptIds(mesa)
    const seen = handled(mesa)
    const slow = gate()
    mesa.on('message', () => slow.wait)
    const socket = await instance(url, 'ada', 'cid-a')
    socket.send({ op: 0, t: 'CHAT', d: { n: 1 }, x: { id: 1 } })
    socket.send({ op: 0, t: 'CHAT', d: { n: 2 }, x: { id: 2 } })
    expect((await sendAcked(socket, 'CHAT', { n: 3 }, 3)).x?.err).toEqual({
      code: 'too-many-requests',
      message: 'at most 2 acknowledged sends may be in flight',
    })
    const errors: ServerError[] = []
    mesa.on('error', (error) => errors.push(error as ServerError))
    const closing = nextEvent(mesa, 'disconnection')
    socket.dispatch('CHAT', { n: 4 })
    expect((await socket.waitClose()).code).toBe(CloseCode.RateLimited)
    await closing
    expect(errors.map((e) => e.code)).toEqual(['rate-limited'])
    // What was in flight is still handled (the client will send it again; its claim answers).
    slow.open()
    await waitFor('both handled', () => seen.length === 2)
    expect(seen).toEqual(['CHAT:1', 'CHAT:2'])
  })
})
