import { describe, expect, expectTypeOf, it } from 'vitest'
import MesaDefault, { Message, Mesa, type ServerClient, type UntypedRequests } from '../src/index.js'
import { connect, track } from './helpers.js'

type In = { PING: { n: number }; TYPING: { typing: boolean } }
type Out = { PONG: { n: number; at: number } }
type User = { name: string }

describe('typed message maps', () => {
  it('types messages, clients and users from the generics, and the default export is Mesa', async () => {
    expectTypeOf(MesaDefault).toEqualTypeOf(Mesa)
    const mesa = track(new Mesa<In, Out, User>({ port: 0, host: '127.0.0.1' }))
    await mesa.listening()
    const got = new Promise<number>((resolve) => {
      mesa.on('connection', (client) => {
        expectTypeOf(client).toEqualTypeOf<ServerClient<In, Out, User>>()
        client.authenticate((_, done) => done(null, { id: 'u', user: { name: 'Ada' } }))
        client.on('message', (message) => {
          if (message.type === 'PING') {
            expectTypeOf(message.data).toEqualTypeOf<{ n: number }>()
            void client.send(new Message(0, { n: message.data.n, at: 1 }, 'PONG'))
            resolve(message.data.n)
          }
        })
        expectTypeOf(client.user).toEqualTypeOf<User | undefined>()
      })
    })
    // @ts-expect-error: PONG data needs `at`
    void mesa.send(new Message(0, { n: 1 }, 'PONG')).catch(() => {})
    // @ts-expect-error: the server sends no PING
    void mesa.send(new Message(0, { n: 1 }, 'PING')).catch(() => {})
    const socket = await connect(`ws://127.0.0.1:${mesa.port}`)
    socket.send({ op: 0, d: { n: 5 }, t: 'PING' })
    await got
    await socket.waitForMessages(1)
  })
})

describe('typed channel maps', () => {
  type Channels = {
    [room: `room:${string}`]: { CHAT: { text: string } }
    news: { HEADLINE: { title: string } }
  }

  it('types publications and history by channel', async () => {
    const mesa = track(new Mesa<In, Out, User, UntypedRequests, Channels>({ port: 0, host: '127.0.0.1' }))
    await mesa.listening()
    await mesa.publish('room:1', new Message(0, { text: 'hi' }, 'CHAT'))
    await mesa.publish('news', new Message(0, { title: 'Mesa 2' }, 'HEADLINE'))
    // @ts-expect-error: a room carries CHAT, not HEADLINE
    void mesa.publish('room:1', new Message(0, { title: 'x' }, 'HEADLINE')).catch(() => {})
    // @ts-expect-error: CHAT needs text
    void mesa.publish('room:2', new Message(0, { n: 1 }, 'CHAT')).catch(() => {})
    // @ts-expect-error: no such channel in the map
    void mesa.publish('sports', new Message(0, { text: 'x' }, 'CHAT')).catch(() => {})
    const history = await mesa.history('room:1', { limit: 10 })
    if (history.status === 'ok') {
      const [message] = history.messages
      expectTypeOf(message!.data).toEqualTypeOf<{ text: string }>()
      expect(message!.data.text).toBe('hi')
    }
    mesa.channels.authorize((client, channel, params) => {
      expectTypeOf(client).toEqualTypeOf<ServerClient<In, Out, User>>()
      expectTypeOf(channel).toEqualTypeOf<string>()
      return params.token === 'ok'
    })
  })

  it('takes any channel and message without a map', async () => {
    const mesa = track(new Mesa({ port: 0, host: '127.0.0.1' }))
    await mesa.listening()
    await mesa.publish('anything', new Message(0, { any: 1 }, 'ANY'))
  })
})
