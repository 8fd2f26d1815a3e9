import { describe, expectTypeOf, it } from 'vitest'
import MesaDefault, { Message, Mesa, type ServerClient } from '../src/index.js'
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
