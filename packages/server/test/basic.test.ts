import { describe, expect, it } from 'vitest'
import { nextEvent } from '@mesa/test-kit'
import { CloseCode, Message } from '../src/index.js'
import { connect, startServer } from './helpers.js'

describe('Mesa server basics', () => {
  it('greets with hello, receives messages and sends to a client', async () => {
    const { mesa, url } = await startServer()
    const connected = nextEvent(mesa, 'connection')
    const socket = await connect(url)
    expect(socket.hello).toEqual({
      op: 10,
      d: { c_heartbeat_interval: 10000, c_authentication_timeout: 10000, rules: ['sends_user_object'] },
    })
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

  it('counts what it does in mesa.stats: connections by protocol and authentication, frames and bytes in and out', async () => {
    const { mesa, url } = await startServer({ sync: { enabled: true } })
    mesa.on('connection', (client) => client.authenticate((_, done) => done(null, { id: 'u', user: {} })))
    const v1 = await connect(url)
    const v2 = await connect(url, { v2: true })
    await v2.authenticate({})
    expect(mesa.stats.connections).toEqual({ total: 2, protocol1: 1, protocol2: 1, authenticated: 1 })
    const received = nextEvent(mesa, 'message')
    v1.send({ op: 0, d: { hi: 1 }, t: 'HELLO' })
    await received
    expect(mesa.stats.messagesIn).toBe(1)
    expect(mesa.stats.bytesIn).toBeGreaterThan(JSON.stringify({ op: 0, d: { hi: 1 }, t: 'HELLO' }).length - 1)
    const out = mesa.stats.messagesOut
    await mesa.send(new Message(0, {}, 'ALL'))
    await Promise.all([v1.waitForMessages(1), v2.waitForMessages(1)])
    expect(mesa.stats.messagesOut).toBe(out + 2)
    expect(mesa.stats.adapterLatency.count).toBeGreaterThanOrEqual(2)
    v2.close()
    await nextEvent(mesa, 'disconnection')
    expect(mesa.stats.connections).toEqual({ total: 1, protocol1: 1, protocol2: 0, authenticated: 0 })
  })
})
