import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it, vi } from 'vitest'
import { delay, nextEvent } from '@mesa/test-kit'
import { CloseCode, Message, Mesa, type MiddlewareHandlers, type ServerClient } from '../src/index.js'
import { acceptIds, connect, startServer, track, user } from './helpers.js'

describe('sending', () => {
  it('sends to every socket without recipients, authenticated or not', async () => {
    const { mesa, url } = await startServer()
    acceptIds(mesa)
    const anonymous = await connect(url)
    const alice = await user(url, 'alice')
    await mesa.send(new Message(0, { disabled: true }, 'MANIFEST_UPDATE'))
    for (const socket of [anonymous, alice]) {
      const [frame] = await socket.waitForMessages(1)
      expect(frame).toEqual({ op: 0, d: { disabled: true }, t: 'MANIFEST_UPDATE' })
    }
  })

  it('sends to the listed users on every socket they have, and to nobody else', async () => {
    const { mesa, url } = await startServer()
    acceptIds(mesa)
    const alice1 = await user(url, 'alice')
    const alice2 = await user(url, 'alice')
    const bob = await user(url, 'bob')
    const carol = await user(url, 'carol')
    const anonymous = await connect(url)
    await mesa.send(new Message(0, { content: 'Hey!' }, 'NEW_MESSAGE'), ['alice', 'bob', 'nobody'])
    for (const socket of [alice1, alice2, bob]) {
      expect(await socket.waitForMessages(1)).toEqual([{ op: 0, d: { content: 'Hey!' }, t: 'NEW_MESSAGE' }])
    }
    await delay(50)
    expect(carol.messages).toEqual([])
    expect(anonymous.messages).toEqual([])
  })

  it("sends ['*'] to every authenticated user except the excluded ones", async () => {
    const { mesa, url } = await startServer()
    acceptIds(mesa)
    const one = await user(url, '1')
    const two = await user(url, '2')
    const twoAgain = await user(url, '2')
    const anonymous = await connect(url)
    await mesa.send(new Message(0, { userId: '1', status: 'online' }, 'STATUS_UPDATE'), ['*'], ['1'])
    await two.waitForMessages(1)
    await twoAgain.waitForMessages(1)
    await delay(50)
    expect(one.messages).toEqual([])
    expect(anonymous.messages).toEqual([])
  })

  it('applies excluding to targeted sends and broadcasts', async () => {
    const { mesa, url } = await startServer()
    acceptIds(mesa)
    const a = await user(url, 'a')
    const b = await user(url, 'b')
    await mesa.send(new Message(0, {}, 'T'), ['a', 'b'], ['b'])
    await mesa.send(new Message(0, {}, 'B'), undefined, ['a'])
    expect((await a.waitForMessages(1)).map((f) => f.t)).toEqual(['T'])
    expect((await b.waitForMessages(1)).map((f) => f.t)).toEqual(['B'])
    await delay(50)
    expect(a.messages).toHaveLength(1)
    expect(b.messages).toHaveLength(1)
  })

  it('client.send goes to this socket before authentication and to the whole user after (as 1.x)', async () => {
    const { mesa, url } = await startServer()
    const clients: ServerClient[] = []
    mesa.on('connection', (client) => {
      clients.push(client)
      client.authenticate((data, done) => done(null, { id: String(data.id), user: {} }))
    })
    const first = await connect(url)
    await clients[0]!.send(new Message(0, { n: 1 }, 'DIRECT'))
    expect((await first.waitForMessages(1))[0]!.t).toBe('DIRECT')
    await first.authenticate({ id: 'u' })
    const second = await user(url, 'u')
    await clients[0]!.send(new Message(0, { n: 2 }, 'USER'))
    expect((await second.waitForMessages(1))[0]!.t).toBe('USER')
    expect((await first.waitForMessages(2))[1]!.t).toBe('USER')
  })

  it('emits message on the server and the client, with the client', async () => {
    const { mesa, url } = await startServer()
    const [serverMessage, clientMessage] = [nextEvent(mesa, 'message'), new Promise<unknown>((resolve) => {
      mesa.on('connection', (client) => client.on('message', resolve))
    })]
    const socket = await connect(url)
    socket.send({ op: 0, d: { typing: true }, t: 'TYPING_STATUS', o: { sync: false } })
    const [message, client] = await serverMessage
    expect(message).toMatchObject({ opcode: 0, data: { typing: true }, type: 'TYPING_STATUS', options: { sync: false } })
    expect(client.socketId).toEqual(expect.any(String))
    expect(await clientMessage).toBe(message)
  })

  it('emits disconnect on the client and disconnection on the server with code and reason', async () => {
    const { mesa, url } = await startServer()
    const clientGone = new Promise<[number, string]>((resolve) => {
      mesa.on('connection', (client) => client.on('disconnect', (code, reason) => resolve([code, reason])))
    })
    const serverGone = nextEvent(mesa, 'disconnection')
    const socket = await connect(url)
    expect(mesa.clients).toHaveLength(1)
    socket.ws.close(4321, 'bye')
    expect(await clientGone).toEqual([4321, 'bye'])
    const [code, reason, client] = await serverGone
    expect([code, reason]).toEqual([4321, 'bye'])
    expect(client.socketId).toEqual(expect.any(String))
    expect(mesa.connectionCount).toBe(0)
    expect(mesa.clients).toEqual([])
  })

  it('client.disconnect closes with 4004 by default, or the given code; bad codes throw', async () => {
    const { mesa, url } = await startServer()
    const clients: ServerClient[] = []
    mesa.on('connection', (client) => clients.push(client))
    const a = await connect(url)
    const b = await connect(url)
    expect(() => clients[0]!.disconnect(1005)).toThrow(/not a close code/)
    clients[0]!.disconnect()
    clients[1]!.disconnect(4100, 'kicked')
    expect((await a.waitClose()).code).toBe(CloseCode.DisconnectedByServer)
    expect(await b.waitClose()).toEqual({ code: 4100, reason: 'kicked' })
  })

  it("DISCONNECT_CLIENT (op 5) closes the users' sockets with 4004", async () => {
    const { mesa, url } = await startServer()
    acceptIds(mesa)
    const a1 = await user(url, 'a')
    const a2 = await user(url, 'a')
    const b = await user(url, 'b')
    await mesa.send(new Message(5, {}, 'DISCONNECT_CLIENT'), ['a'])
    expect((await a1.waitClose()).code).toBe(CloseCode.DisconnectedByServer)
    expect((await a2.waitClose()).code).toBe(CloseCode.DisconnectedByServer)
    await mesa.send(new Message(0, {}, 'STILL_HERE'), ['b'])
    await b.waitForMessages(1)
  })

  it('updateUser changes the user object and moves the socket to a new id', async () => {
    const { mesa, url } = await startServer()
    const clients: ServerClient[] = []
    mesa.on('connection', (client) => {
      clients.push(client)
      client.authenticate((data, done) => done(null, { id: String(data.id), user: { v: 1 } }))
    })
    const socket = await connect(url)
    expect(() => clients[0]!.updateUser({ user: { v: 0 } })).toThrow(/authenticated/)
    await socket.authenticate({ id: 'old' })
    clients[0]!.updateUser({ id: 'new', user: { v: 2 } })
    expect(clients[0]!.user).toEqual({ v: 2 })
    expect(clients[0]!.id).toBe('new')
    await mesa.send(new Message(0, {}, 'TO_OLD'), ['old'])
    await mesa.send(new Message(0, {}, 'TO_NEW'), ['new'])
    expect((await socket.waitForMessages(1)).map((f) => f.t)).toEqual(['TO_NEW'])
  })

  it('applies the Dispatcher\'s rules to user ids (userIdsProblem): no empty ids, no "*" for DISCONNECT_CLIENT', async () => {
    const { mesa } = await startServer()
    mesa.on('error', () => {})
    await expect(mesa.send(new Message(0, {}, 'X'), [''])).rejects.toMatchObject({ code: 'invalid-recipients' })
    await expect(mesa.send(new Message(0, {}, 'X'), ['a'], [''])).rejects.toMatchObject({ code: 'invalid-recipients' })
    await expect(mesa.send(new Message(5, {}, 'DISCONNECT_CLIENT'), ['*'])).rejects.toThrow(/"\*" \(everyone\) is refused/)
  })

  it('rejects send() of something that is not a Message, or bad recipients, also reported when not awaited', async () => {
    const { mesa, url } = await startServer()
    const errors: Error[] = []
    mesa.on('error', (error) => errors.push(error))
    const connected = nextEvent(mesa, 'connection')
    await connect(url)
    const [client] = await connected
    await expect(mesa.send({} as never)).rejects.toThrow(/takes a Message/)
    await expect(mesa.send(new Message(0, {}, 'X'), 'alice' as never)).rejects.toThrow(/recipients/)
    void mesa.send({} as never)
    void client.send({} as never)
    await delay(50)
    expect(errors.map((error) => error.message)).toEqual([
      'send() takes a Message',
      'recipients must be an array of user ids',
      'send() takes a Message',
      'send() takes a Message',
    ])
  })

  it('keeps sent and received messages with options.storeMessages', async () => {
    const { mesa, url } = await startServer({ options: { storeMessages: true } })
    const connected = nextEvent(mesa, 'connection')
    const socket = await connect(url)
    const [client] = await connected
    const received = nextEvent(client, 'message')
    socket.send({ op: 0, d: {}, t: 'IN' })
    await received
    await mesa.send(new Message(0, {}, 'OUT'))
    await socket.waitForMessages(1)
    expect(client.messages.received.map((m) => m.type)).toEqual(['IN'])
    expect(client.messages.sent.map((m) => m.type)).toEqual(['OUT'])
  })

  it('bounds client.messages by limits.maxStoredMessageBytes as well as by count, oldest first', async () => {
    const { mesa, url } = await startServer({ options: { storeMessages: true }, limits: { maxStoredMessageBytes: 64 * 1024 } })
    const connected = nextEvent(mesa, 'connection')
    const socket = await connect(url)
    const [client] = await connected
    let received = 0
    const allReceived = new Promise<void>((resolve) =>
      mesa.on('message', () => {
        if (++received === 10) resolve()
      }),
    )
    const chunk = 'x'.repeat(20 * 1024)
    for (let i = 0; i < 10; i++) {
      await mesa.send(new Message(0, { i, chunk }, 'OUT'))
      socket.send({ op: 0, d: { i, chunk }, t: 'IN' })
    }
    // Bigger than the bound on its own: not kept, and the others stay.
    await mesa.send(new Message(0, { chunk: chunk.repeat(4) }, 'HUGE'))
    await socket.waitForMessages(11)
    await allReceived
    expect(client.messages.sent.map((m) => (m.data as { i: number }).i)).toEqual([7, 8, 9])
    expect(client.messages.received.map((m) => (m.data as { i: number }).i)).toEqual([7, 8, 9])
    // The count bound still holds for small messages.
    for (let i = 0; i < 150; i++) await mesa.send(new Message(0, { i }, 'SMALL'))
    expect(client.messages.sent).toHaveLength(100)
    expect(client.messages.sent.at(-1)!.data).toEqual({ i: 149 })
  })

  it('serializes a message once however many sockets get it', async () => {
    const { mesa, url } = await startServer({ sync: { enabled: true } })
    acceptIds(mesa)
    const sockets = await Promise.all(Array.from({ length: 10 }, (_, i) => user(url, `s${i}`, i % 2 === 0)))
    const stringify = vi.spyOn(JSON, 'stringify')
    try {
      await mesa.send(new Message(0, { big: 'x'.repeat(1000) }, 'ONCE'))
      await mesa.send(new Message(0, { big: 'y'.repeat(1000) }, 'TARGETED'), sockets.map((_, i) => `s${i}`))
      const serializations = stringify.mock.results.filter(
        ({ value }) => typeof value === 'string' && (value.includes('xxxxxxxxxx') || value.includes('yyyyyyyyyy')),
      )
      expect(serializations).toHaveLength(2)
    } finally {
      stringify.mockRestore()
    }
    for (const socket of sockets) expect((await socket.waitForMessages(2)).map((f) => f.t)).toEqual(['ONCE', 'TARGETED'])
  })

  it('writes a message sent to many sockets as the same frame, one per socket', async () => {
    const { mesa, url } = await startServer()
    const sockets = await Promise.all(Array.from({ length: 20 }, () => connect(url)))
    for (let i = 0; i < 50; i++) void mesa.send(new Message(0, { i }, 'BURST'))
    for (const socket of sockets) {
      const frames = await socket.waitForMessages(50)
      expect(frames.map((f) => f.d.i)).toEqual(Array.from({ length: 50 }, (_, i) => i))
    }
  })
})

describe('server options', () => {
  it('attaches to an existing http server on a path and leaves it running after close', async () => {
    const http = createServer((_, res) => res.end('plain http'))
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    try {
      const mesa = track(new Mesa({ server: http, path: '/ws' }))
      await mesa.listening()
      const port = (http.address() as AddressInfo).port
      expect(mesa.port).toBe(port)
      const socket = await connect(`ws://127.0.0.1:${port}/ws`)
      expect(socket.hello.op).toBe(10)
      await mesa.close()
      expect((await socket.waitClose()).code).toBe(CloseCode.GoingAway)
      expect(http.listening).toBe(true)
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('plain http')
    } finally {
      http.closeAllConnections()
      await new Promise((resolve) => http.close(resolve))
    }
  })

  it('listening() waits for an http server that starts listening after the Mesa server was created', async () => {
    const http = createServer()
    const mesa = track(new Mesa({ server: http }))
    const errorListeners = http.listenerCount('error')
    let ready = false
    const listening = mesa.listening().then(() => {
      ready = true
    })
    await delay(20)
    expect(ready).toBe(false)
    expect(mesa.port).toBeUndefined()
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    try {
      await listening
      // The one Mesa added to learn about a failed listen is gone (ws keeps its own).
      expect(http.listenerCount('error')).toBe(errorListeners - 1)
      const socket = await connect(`ws://127.0.0.1:${mesa.port}`)
      expect(socket.hello.op).toBe(10)
      await mesa.close()
    } finally {
      http.closeAllConnections()
      await new Promise((resolve) => http.close(resolve))
    }
  })

  it('negotiates mesa.v2 and says so in hello; 1.x sockets see no x', async () => {
    const { url } = await startServer()
    const v2 = await connect(url, { v2: true })
    const v1 = await connect(url)
    expect(v2.ws.protocol).toBe('mesa.v2')
    expect(v2.hello.x).toEqual({ protocol: 2 })
    expect(v1.ws.protocol).toBe('')
    expect(v1.hello.x).toBeUndefined()
  })

  it('enforce_equal_versions: closes a client with another CLIENT_VERSION with 1002, keeps an equal one', async () => {
    const { mesa, url } = await startServer({ client: { enforceEqualVersions: true, version: '1.5.3' } })
    const messages: unknown[] = []
    mesa.on('message', (message) => messages.push(message))
    const old = await connect(url)
    const same = await connect(url)
    expect(old.hello.d.rules).toContain('enforce_equal_versions')
    old.send({ op: 0, d: { v: '1.0.0' }, t: 'CLIENT_VERSION' })
    same.send({ op: 0, d: { v: '1.5.3' }, t: 'CLIENT_VERSION' })
    expect((await old.waitClose()).code).toBe(CloseCode.ProtocolError)
    same.send({ op: 0, d: {}, t: 'AFTER' })
    await new Promise<void>((resolve) => mesa.once('message', () => resolve()))
    expect(same.closeCode).toBeUndefined()
    expect(messages).toHaveLength(1)
  })
})

describe('middleware', () => {
  it('calls the 1.x handlers, and a throwing handler is reported without stopping the others', async () => {
    const { mesa, url } = await startServer()
    acceptIds(mesa)
    const calls: string[] = []
    const errors: Error[] = []
    mesa.on('error', (error) => errors.push(error))
    mesa.use(() => ({
      onConnection: () => {
        calls.push('connection')
        throw new Error('middleware bug')
      },
    }))
    const handlers: MiddlewareHandlers = {
      onConnection: (client) => void calls.push(`connection2:${typeof client.socketId}`),
      onAuthenticated: (client) => void calls.push(`authenticated:${client.id}`),
      onMessageReceived: (message) => void calls.push(`received:${message.type}`),
      onMessageSent: (message, clients, here) => void calls.push(`sent:${message.type}:${clients.length}:${here}`),
      onDisconnection: (_client, code) => void calls.push(`disconnection:${code}`),
      onError: (error) => void calls.push(`error:${error.message}`),
    }
    mesa.use(() => handlers)
    const socket = await user(url, 'alice')
    socket.send({ op: 0, d: {}, t: 'PING' })
    await new Promise<void>((resolve) => mesa.once('message', () => resolve()))
    await mesa.send(new Message(0, {}, 'PONG'), ['alice'])
    socket.close(1000)
    await new Promise<void>((resolve) => mesa.once('disconnection', () => resolve()))
    expect(calls).toEqual([
      'connection',
      'error:middleware onConnection failed: middleware bug',
      'connection2:string',
      'authenticated:alice',
      'received:PING',
      'sent:PONG:1:true',
      'disconnection:1000',
    ])
    expect(errors.map((e) => (e.cause as Error).message)).toEqual(['middleware bug'])
  })

  it('a listener that throws is reported through error and does not crash the server', async () => {
    const { mesa, url } = await startServer()
    const errors: Error[] = []
    mesa.on('error', (error) => errors.push(error))
    mesa.on('connection', () => {
      throw new Error('listener bug')
    })
    const socket = await connect(url)
    await mesa.send(new Message(0, {}, 'OK'))
    await socket.waitForMessages(1)
    expect(errors.map((e) => (e.cause as Error | undefined)?.message)).toContain('listener bug')
  })
})
