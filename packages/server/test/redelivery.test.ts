import { type MesaError, StoreError } from '@mesa/core'
import { GLOBAL_STREAM, MemoryAdapter, userStream } from '@mesa/core/server'
import { describe, expect, it, vi } from 'vitest'
import { delay } from '@mesa/test-kit'
import { CloseCode, Message, Mesa } from '../src/index.js'
import { connect, startServer, track } from './helpers.js'
import { syncServer, Tracker } from './tracker.js'

const send = (mesa: Mesa, n: number, to?: string[], type = 'M'): Promise<void> =>
  mesa.send(new Message(0, { n }, type), to)

/** A sync server on `adapter` where user `id` connected once and left: the tracker resumes it from there. */
async function absentUser(adapter: MemoryAdapter, id: string) {
  const { mesa, url } = await syncServer({ adapter })
  const tracker = new Tracker()
  const first = await tracker.connect(url, id)
  first.close()
  await first.waitClose()
  return { mesa, url, tracker }
}

describe('redelivery (protocol 2)', () => {
  it('tells a client its stream heads when it authenticates, before any message', async () => {
    const { url } = await syncServer()
    const socket = await connect(url, { v2: true })
    const ack = await socket.authenticate({ id: 'fresh' })
    expect(ack.d).toEqual({})
    expect(ack.x).toEqual({
      streams: { user: { epoch: expect.any(String), seq: 0 }, global: { epoch: expect.any(String), seq: 0 } },
      recovered: true,
    })
  })

  it('numbers live messages per stream: s in the user stream, s and x.st "g" in the global one; 1.x sockets see neither', async () => {
    const { mesa, url } = await syncServer()
    const v2 = await connect(url, { v2: true })
    await v2.authenticate({ id: 'u' })
    const v1 = await connect(url)
    await v1.authenticate({ id: 'u' })
    await send(mesa, 1, ['u'])
    await send(mesa, 2)
    await send(mesa, 3, ['u'])
    expect((await v2.waitForMessages(3)).map(({ d, s, x }) => ({ n: d.n, s, x }))).toEqual([
      { n: 1, s: 1, x: undefined },
      { n: 2, s: 1, x: { st: 'g' } },
      { n: 3, s: 2, x: undefined },
    ])
    expect((await v1.waitForMessages(3)).map((f) => Object.keys(f).sort().join())).toEqual(['d,op,t', 'd,op,t', 'd,op,t'])
  })

  it('replays what was missed after a clean disconnect, in order, then continues live', async () => {
    const { mesa, url } = await syncServer()
    const replayed: unknown[][] = []
    mesa.use(() => ({ onRedeliverUndeliverableMessages: (messages) => void replayed.push(messages.map((m) => m.data)) }))
    const tracker = new Tracker()
    const first = await tracker.connect(url, 'r')
    await send(mesa, 1, ['r'])
    await send(mesa, 2)
    await first.waitForMessages(2)
    first.close()
    await first.waitClose()
    for (let n = 3; n <= 6; n++) await send(mesa, n, n % 2 ? ['r'] : undefined)
    const second = await tracker.connect(url, 'r')
    await send(mesa, 7, ['r'])
    await second.waitFor('7 delivered', () => tracker.delivered.length === 7)
    expect(tracker.numbers()).toEqual([1, 2, 3, 5, 4, 6, 7])
    expect(second.frames.find((f) => f.op === 22)!.x!.recovered).toBe(true)
    expect(replayed).toEqual([[{ n: 3 }, { n: 5 }, { n: 4 }, { n: 6 }]])
  })

  it('replays messages written to a socket that was terminate()d abruptly', async () => {
    const { mesa, url } = await syncServer()
    const tracker = new Tracker()
    const first = await tracker.connect(url, 't')
    await send(mesa, 1, ['t'])
    await first.waitForMessages(1)
    tracker.detach()
    first.terminate()
    // Written while the server may still think the socket is alive: lost on the wire, kept in the store.
    await send(mesa, 2, ['t'])
    await send(mesa, 3, ['t'])
    await first.waitClose()
    const second = await tracker.connect(url, 't')
    await second.waitFor('3 delivered', () => tracker.delivered.length === 3)
    expect(tracker.numbers()).toEqual([1, 2, 3])
  })

  it('replays what went to a client that stopped acking heartbeats and was closed with 4003', async () => {
    const { mesa, url } = await syncServer({ heartbeat: { enabled: true, interval: 50, maxAttempts: 2 } })
    const tracker = new Tracker()
    const first = await tracker.connect(url, 'h')
    await send(mesa, 1, ['h'])
    await first.waitFor('1 delivered', () => tracker.delivered.length === 1)
    // The application hangs: it neither acks nor processes what arrives any more.
    first.autoAck = false
    tracker.detach()
    await send(mesa, 2, ['h'])
    await send(mesa, 3, ['h'])
    expect((await first.waitClose()).code).toBe(CloseCode.HeartbeatTimeout)
    const second = await tracker.connect(url, 'h')
    await second.waitFor('3 delivered', () => tracker.delivered.length === 3)
    expect(tracker.numbers()).toEqual([1, 2, 3])
  })

  it('interleaves a paced replay with live messages: each once, in order, none skipped on the wire', async () => {
    const { mesa, url } = await syncServer({ sync: { redeliveryInterval: 15 } })
    const tracker = new Tracker()
    const first = await tracker.connect(url, 'i')
    first.close()
    await first.waitClose()
    for (let n = 1; n <= 8; n++) await send(mesa, n, ['i'])
    const second = await tracker.connect(url, 'i')
    await second.waitForMessages(1)
    for (let n = 9; n <= 14; n++) void send(mesa, n, ['i'])
    await second.waitFor('14 delivered', () => tracker.delivered.length === 14)
    expect(tracker.numbers()).toEqual(Array.from({ length: 14 }, (_, i) => i + 1))
    expect(second.messages.map((f) => f.s)).toEqual(Array.from({ length: 14 }, (_, i) => i + 1))
  })

  it('closes a socket with 4007 when more arrives for it during a replay than it may hold (its client resumes from the store)', async () => {
    const { mesa, url } = await syncServer({ maxBufferedAmount: 2048, sync: { redeliveryInterval: 60_000 } })
    const tracker = new Tracker()
    const first = await tracker.connect(url, 'held')
    first.close()
    await first.waitClose()
    for (let n = 1; n <= 2; n++) await send(mesa, n, ['held'])
    const second = await tracker.connect(url, 'held')
    await second.waitForMessages(1)
    // The replay now sleeps a minute before its second message; everything live waits behind it, up to the bound.
    for (let n = 3; n <= 60; n++) await mesa.send(new Message(0, { n, pad: 'x'.repeat(100) }, 'M'), ['held'])
    expect((await second.waitClose()).code).toBe(CloseCode.SlowConsumer)
    expect(mesa.stats.slowConsumerCuts).toBeGreaterThanOrEqual(1)
  })

  it('two sockets of one user: each gets every message once, the one that was away by replay', async () => {
    const { mesa, url } = await syncServer()
    const stays = new Tracker()
    const leaves = new Tracker()
    const staying = await stays.connect(url, 'two')
    const away = await leaves.connect(url, 'two')
    await send(mesa, 1, ['two'])
    await away.waitFor('first', () => leaves.delivered.length === 1)
    away.close()
    await away.waitClose()
    await send(mesa, 2, ['two'])
    await send(mesa, 3)
    const back = await leaves.connect(url, 'two')
    await send(mesa, 4, ['two'])
    await back.waitFor('all on the returning socket', () => leaves.delivered.length === 4)
    await staying.waitFor('all on the staying socket', () => stays.delivered.length === 4)
    expect(stays.numbers()).toEqual([1, 2, 3, 4])
    expect(leaves.numbers()).toEqual([1, 2, 3, 4])
  })

  it('skips global messages that excluded the user, live and in replay, without reading gaps', async () => {
    const { mesa, url, adapter } = await syncServer()
    const tracker = new Tracker()
    const socket = await tracker.connect(url, 'x')
    const readAfter = vi.spyOn(adapter.store, 'readAfter')
    await mesa.send(new Message(0, { n: 1 }, 'G'), ['*'], ['x'])
    await mesa.send(new Message(0, { n: 2 }, 'G'), ['*'])
    await socket.waitFor('one', () => tracker.delivered.length === 1)
    expect(readAfter).not.toHaveBeenCalled()
    socket.close()
    await socket.waitClose()
    await mesa.send(new Message(0, { n: 3 }, 'G'), ['*'], ['x'])
    await mesa.send(new Message(0, { n: 4 }, 'G'))
    const back = await tracker.connect(url, 'x')
    await back.waitFor('two', () => tracker.delivered.length === 2)
    await delay(50)
    expect(tracker.numbers()).toEqual([2, 4])
    expect(back.messages.map((f) => f.d.n)).toEqual([4])
  })

  it('fills a gap from the store when a later position arrives first', async () => {
    const { mesa, url, adapter } = await syncServer()
    const tracker = new Tracker()
    const socket = await tracker.connect(url, 'g')
    // Stored but its envelope never arrives here (e.g. published by a server whose message is still in flight).
    await adapter.store.append(userStream('g'), { frame: '{"op":0,"d":{"n":1},"t":"M"}' })
    await send(mesa, 2, ['g'])
    await socket.waitFor('both', () => tracker.delivered.length === 2)
    expect(tracker.numbers()).toEqual([1, 2])
    expect(socket.messages.map((f) => f.s)).toEqual([1, 2])
  })

  it('reads a global gap from the store once for all the sockets that hit it', async () => {
    const { mesa, url, adapter } = await syncServer()
    const trackers = [new Tracker(), new Tracker(), new Tracker()]
    const sockets = await Promise.all(trackers.map((tracker, i) => tracker.connect(url, `g${i}`)))
    const readAfter = vi.spyOn(adapter.store, 'readAfter')
    await adapter.store.append(GLOBAL_STREAM, { frame: '{"op":0,"d":{"n":1},"t":"M"}' })
    await send(mesa, 2)
    for (const [i, tracker] of trackers.entries()) {
      await sockets[i]!.waitFor('both', () => tracker.delivered.length === 2)
      expect(tracker.numbers()).toEqual([1, 2])
    }
    expect(readAfter).toHaveBeenCalledTimes(1)
  })

  it('closes with 1001 a socket whose gap was trimmed away, so its client resumes and learns it did not recover', async () => {
    const adapter = new MemoryAdapter({ retention: { maxEntries: 2 } })
    const { mesa, url } = await syncServer({ adapter })
    const tracker = new Tracker()
    const socket = await tracker.connect(url, 'lost')
    // Stored, but their envelopes never reached this server, and the store kept only the last two.
    for (let n = 1; n <= 3; n++) await adapter.store.append(userStream('lost'), { frame: `{"op":0,"d":{"n":${n}},"t":"M"}` })
    await send(mesa, 4, ['lost'])
    const closed = await socket.waitClose()
    expect(closed.code).toBe(CloseCode.GoingAway)
    expect(closed.reason).toMatch(/redelivery history lost/)
    expect(socket.messages).toEqual([])
    const back = await tracker.connect(url, 'lost')
    expect(back.frames.find((f) => f.op === 22)!.x).toMatchObject({ recovered: false, reason: 'trimmed' })
  })

  it('closes with 1001 a socket whose stream got a new epoch, instead of skipping what follows', async () => {
    const { url, adapter } = await syncServer()
    const tracker = new Tracker()
    const socket = await tracker.connect(url, 'epoch')
    await adapter.publish({
      kind: 'dispatch',
      origin: 'another-server',
      frame: '{"op":0,"d":{"n":1},"t":"M"}',
      recipients: ['epoch'],
      sequences: { users: [1], userEpochs: ['a-new-history'] },
    })
    const closed = await socket.waitClose()
    expect(closed.code).toBe(CloseCode.GoingAway)
    expect(socket.messages).toEqual([])
  })

  it('tells a client whose position was trimmed away that it did not recover, and replays nothing', async () => {
    const { mesa, url, tracker } = await absentUser(new MemoryAdapter({ retention: { maxEntries: 3 } }), 'trim')
    for (let n = 1; n <= 5; n++) await send(mesa, n, ['trim'])
    const second = await tracker.connect(url, 'trim')
    const ack = second.frames.find((f) => f.op === 22)!
    expect(ack.x).toMatchObject({ recovered: false, reason: 'trimmed', streams: { user: { seq: 5 } } })
    await send(mesa, 6, ['trim'])
    await second.waitForMessages(1)
    await delay(50)
    expect(second.messages.map((f) => f.d.n)).toEqual([6])
  })

  it("keeps at most retention.maxTotalBytes across users (MemoryAdapter): another user's traffic trims an idle user's oldest messages first, and its client is told it did not recover", async () => {
    const adapter = new MemoryAdapter({ retention: { maxTotalBytes: 2000 } })
    const { mesa, url, tracker } = await absentUser(adapter, 'idle')
    for (let n = 1; n <= 3; n++) await send(mesa, n, ['idle'])
    // The busy user's messages go beyond the bound: the idle user's stream, appended to longest ago, gives up
    // its entries first.
    for (let n = 1; n <= 80; n++) await send(mesa, n, ['busy'])
    expect(adapter.store.totalBytes()).toBeLessThanOrEqual(2000)
    expect(adapter.store.size(userStream('idle'))).toBe(0)
    expect(adapter.store.size(userStream('busy'))).toBeGreaterThan(20)
    const back = await tracker.connect(url, 'idle')
    expect(back.frames.find((f) => f.op === 22)!.x).toMatchObject({ recovered: false, reason: 'trimmed', streams: { user: { seq: 3 } } })
  })

  it('does not resume from another epoch', async () => {
    const { url } = await syncServer()
    const socket = await connect(url, { v2: true })
    const ack = await socket.authenticate({ id: 'e' }, { resume: { user: { epoch: 'from-another-history', seq: 3 } } })
    expect(ack.x).toMatchObject({ recovered: false, reason: 'epoch-changed' })
  })

  it('answers recovered: false, store-unavailable when the store cannot be read, and goes on from the client\'s positions', async () => {
    const { mesa, url, adapter } = await syncServer()
    const errors: Error[] = []
    mesa.on('error', (error) => errors.push(error))
    const epoch = (await adapter.store.head('user:down')).epoch
    await send(mesa, 1, ['down'])
    const head = vi.spyOn(adapter.store, 'head').mockRejectedValue(new Error('store down'))
    const socket = await connect(url, { v2: true })
    const ack = await socket.authenticate({ id: 'down' }, { resume: { user: { epoch, seq: 1 } } })
    expect(ack.x).toEqual({ streams: {}, recovered: false, reason: 'store-unavailable' })
    expect(errors.map((error) => error.message)).toContain('store down')
    head.mockRestore()
    // The next of the client's stream arrives as usual.
    await send(mesa, 2, ['down'])
    expect((await socket.waitForMessages(1))[0]).toMatchObject({ d: { n: 2 }, s: 2 })
  })

  it('closes to resume when, after the store could not be read, a live message comes from another epoch', async () => {
    const { mesa, url, adapter } = await syncServer()
    mesa.on('error', () => {})
    vi.spyOn(adapter.store, 'head').mockRejectedValue(new Error('store down'))
    const socket = await connect(url, { v2: true })
    await socket.authenticate({ id: 'lost' }, { resume: { user: { epoch: 'before-the-store-lost-its-data', seq: 5 } } })
    // The store came back empty: its stream numbers from 1 again, in a new epoch. A client at seq 5 would drop
    // seq 1 as a duplicate; the socket is closed so that it resumes and learns that its history is gone.
    await send(mesa, 1, ['lost'])
    expect((await socket.waitClose()).code).toBe(CloseCode.GoingAway)
    expect(socket.messages).toEqual([])
  })

  it('never stores a message with sync: false, and sends it without s', async () => {
    const { mesa, url, adapter } = await syncServer()
    const tracker = new Tracker()
    const socket = await tracker.connect(url, 'typing')
    await mesa.send(new Message(0, { n: 1 }, 'TYPING', { sync: false }), ['typing'])
    const [live] = await socket.waitForMessages(1)
    expect(live).toEqual({ op: 0, d: { n: 1 }, t: 'TYPING', o: { sync: false } })
    socket.close()
    await socket.waitClose()
    await mesa.send(new Message(0, { n: 2 }, 'TYPING', { sync: false }), ['typing'])
    await mesa.send(new Message(0, { n: 3 }, 'TYPING', { sync: false }))
    expect(adapter.store.totalSize()).toBe(0)
    const back = await tracker.connect(url, 'typing')
    await delay(50)
    expect(back.messages).toEqual([])
  })

  it('rejects send with StoreError when the store fails, and nobody gets the message', async () => {
    const { mesa, url, adapter } = await syncServer()
    const socket = await connect(url, { v2: true })
    await socket.authenticate({ id: 'sf' })
    vi.spyOn(adapter.store, 'appendMany').mockRejectedValueOnce(new Error('disk full'))
    vi.spyOn(adapter.store, 'append').mockRejectedValueOnce(new Error('disk full'))
    const errors: Error[] = []
    mesa.on('error', (error) => errors.push(error))
    await expect(send(mesa, 1, ['sf'])).rejects.toBeInstanceOf(StoreError)
    await expect(send(mesa, 2)).rejects.toThrow(/disk full/)
    await send(mesa, 3, ['sf'])
    const [only] = await socket.waitForMessages(1)
    await delay(50)
    expect(socket.messages).toEqual([only])
    expect(only!.d.n).toBe(3)
    expect(errors.filter((error) => error instanceof StoreError)).toHaveLength(2)
  })

  it('client.send resolves once stored and rejects with StoreError when storing fails', async () => {
    const { mesa, url, adapter } = await syncServer()
    const connected = new Promise<import('../src/index.js').ServerClient>((resolve) => mesa.once('connection', resolve))
    const socket = await connect(url, { v2: true })
    const client = await connected
    await socket.authenticate({ id: 'cs' })
    await client.send(new Message(0, { n: 1 }, 'M'))
    expect(adapter.store.size(userStream('cs'))).toBe(1)
    vi.spyOn(adapter.store, 'appendMany').mockRejectedValueOnce(new Error('store down'))
    await expect(client.send(new Message(0, { n: 2 }, 'M'))).rejects.toBeInstanceOf(StoreError)
  })

  it('after updateUser moves a socket to another user, the messages of that user reach it', async () => {
    const { mesa, url } = await syncServer()
    const connected = new Promise<import('../src/index.js').ServerClient>((resolve) => mesa.once('connection', resolve))
    const socket = await connect(url, { v2: true })
    const client = await connected
    await socket.authenticate({ id: 'before' })
    for (let n = 1; n <= 3; n++) await send(mesa, n, ['before'])
    await socket.waitForMessages(3)
    client.updateUser({ id: 'after', user: {} })
    await send(mesa, 4, ['after'])
    const frames = await socket.waitForMessages(4)
    expect(frames.map((f) => [f.d.n, f.s])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 1],
    ])
  })

  it('with sync disabled nothing is stored and no s is sent', async () => {
    const adapter = new MemoryAdapter()
    const { mesa, url } = await startServer({ adapter })
    mesa.on('connection', (client) => client.authenticate((_, done) => done(null, { id: 'n', user: {} })))
    const socket = await connect(url, { v2: true })
    const ack = await socket.authenticate({})
    expect(ack.x).toBeUndefined()
    await send(mesa, 1, ['n'])
    expect((await socket.waitForMessages(1))[0]!.s).toBeUndefined()
    expect(adapter.store.totalSize()).toBe(0)
  })
})

describe('redelivery for Mesa 1.x clients', () => {
  it('replays what was stored while the user was offline, with s = stored seq, once', async () => {
    const { mesa, url } = await syncServer()
    const undeliverable: [unknown, string[]][] = []
    mesa.use(() => ({ onUndeliverableMessageSent: (message, ids) => void undeliverable.push([message.data, ids]) }))
    const online = await connect(url)
    await online.authenticate({ id: 'legacy' })
    await send(mesa, 1, ['legacy'])
    await online.waitForMessages(1)
    online.close()
    await online.waitClose()
    await delay(50)
    await send(mesa, 2, ['legacy', 'other'])
    await send(mesa, 3, ['legacy'])
    expect(undeliverable).toEqual([
      [{ n: 2 }, ['legacy', 'other']],
      [{ n: 3 }, ['legacy']],
    ])
    const back = await connect(url)
    await back.authenticate({ id: 'legacy', shouldSync: true })
    expect((await back.waitForMessages(2)).map(({ d, s, x }) => ({ n: d.n, s, x }))).toEqual([
      { n: 2, s: 2, x: undefined },
      { n: 3, s: 3, x: undefined },
    ])
    const again = await connect(url)
    await again.authenticate({ id: 'legacy' })
    await delay(50)
    expect(again.messages).toEqual([])
  })

  it('gives a 1.x client what is still stored when part of its backlog was trimmed, and reports the gap', async () => {
    const adapter = new MemoryAdapter({ retention: { maxEntries: 3 } })
    const { mesa, url } = await syncServer({ adapter })
    const errors: MesaError[] = []
    mesa.on('error', (error) => errors.push(error as MesaError))
    for (let n = 1; n <= 5; n++) await send(mesa, n, ['trimmed'])
    const back = await connect(url)
    await back.authenticate({ id: 'trimmed', shouldSync: true })
    expect((await back.waitForMessages(3)).map(({ d, s }) => [d.n, s])).toEqual([
      [3, 3],
      [4, 4],
      [5, 5],
    ])
    expect(errors.map(({ code, message }) => ({ code, message }))).toEqual([
      {
        code: 'history-lost',
        message: 'stored messages of user trimmed were trimmed before its 1.x client came back; it gets the 3 still stored',
      },
    ])
    // The cursor moved past the replay: the next socket of the user gets nothing again.
    const again = await connect(url)
    await again.authenticate({ id: 'trimmed' })
    await delay(50)
    expect(again.messages).toEqual([])
    expect(errors).toHaveLength(1)
  })

  it('shouldSync: false clears the backlog', async () => {
    const { mesa, url } = await syncServer()
    await send(mesa, 1, ['clear'])
    const noSync = await connect(url)
    await noSync.authenticate({ id: 'clear', shouldSync: false })
    noSync.close()
    await noSync.waitClose()
    await delay(50)
    const later = await connect(url)
    await later.authenticate({ id: 'clear', shouldSync: true })
    await delay(50)
    expect([...noSync.messages, ...later.messages]).toEqual([])
  })

  it('paces the 1.x replay by redeliveryInterval and still delivers live messages after it', async () => {
    const { mesa, url } = await syncServer({ sync: { redeliveryInterval: 10 } })
    for (let n = 1; n <= 4; n++) await send(mesa, n, ['slow'])
    const socket = await connect(url)
    await socket.authenticate({ id: 'slow' })
    await send(mesa, 5, ['slow'])
    expect((await socket.waitForMessages(5)).map((f) => [f.d.n, f.s])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
      [5, undefined],
    ])
  })
})

describe('a shared MemoryAdapter between two servers', () => {
  it('a client moving to the other server resumes there', async () => {
    const adapter = new MemoryAdapter()
    const a = await syncServer({ adapter })
    const b = track(new Mesa({ port: 0, host: '127.0.0.1', adapter, sync: { enabled: true } }))
    b.on('connection', (client) => client.authenticate((data, done) => done(null, { id: String(data.id), user: {} })))
    await b.listening()
    const tracker = new Tracker()
    const onA = await tracker.connect(a.url, 'mover')
    await send(a.mesa, 1, ['mover'])
    await onA.waitFor('one', () => tracker.delivered.length === 1)
    onA.terminate()
    await send(a.mesa, 2, ['mover'])
    await send(b, 3, ['mover'])
    const onB = await tracker.connect(`ws://127.0.0.1:${b.port}`, 'mover')
    await send(a.mesa, 4, ['mover'])
    await onB.waitFor('four', () => tracker.delivered.length === 4)
    expect(tracker.numbers()).toEqual([1, 2, 3, 4])
  })
})
