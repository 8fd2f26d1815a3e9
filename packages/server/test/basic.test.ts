import { describe, expect, it } from 'vitest'
import { nextEvent, } from '@mesa/test-kit'
import { CloseCode, Message } from '../src/index.js'
import { connect, startServer } from './helpers.js'

describe('Mesa server basics', () => {
  it('greets with hello, receives messages and sends to a client', async () => {
    const { mesa, url } = await startServer()
    const connected = nextEvent(mesa, 'connection')
    const socket = await connect(url)
    expect(socket.hello).toEqual({ op: 10, d: { c_authentication_timeout: 10000, rules: ['sends_user_object'] } })
    const [client] = await connected
    const received = nextEvent(client, 'message')
    socket.send({ op: 0, d: { hi: 1 }, t: 'HELLO' })
    const [message] = await received
    expect(message.type).toBe('HELLO')
    expect(message.data).toEqual({ hi: 1 })
    await client.send(new Message(0, { back: true }, 'ECHO'))
    const [echo] = await socket.waitForMessages(1)
    expect(echo).toEqual({ op: 0, d: { back: true }, t: 'ECHO' })
    socket.send('not json{')
    const closed = await socket.waitClose()
    expect(closed.code).toBe(CloseCode.InvalidFrame)
  })
})
