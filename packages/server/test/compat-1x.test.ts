import { Client as Client1x, Message as Message1x } from '@cryb/mesa'
import { delay, Scope, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { Message } from '../src/index.js'
import { syncServer } from './tracker.js'

type Received = { opcode: number; data: Record<string, unknown>; type?: string; sequence?: number }

const scope = new Scope()
afterEach(() => scope.cleanup())

describe('Mesa 1.x clients against this server', () => {
  it('@cryb/mesa 1.5.8 Client connects, authenticates, exchanges messages, answers heartbeats and gets its backlog', async () => {
    const { mesa, url } = await syncServer({ heartbeat: { enabled: true, interval: 50, maxAttempts: 2 } })
    const serverGot: string[] = []
    mesa.on('message', (message) => serverGot.push(String(message.type)))
    await mesa.send(new Message(0, { n: 1 }, 'WHILE_AWAY'), ['legacy'])
    const client = new Client1x(url, { autoConnect: false })
    scope.defer(() => client.disconnect(1000))
    const received: Received[] = []
    client.on('message', (message: Received) => received.push(message))
    client.on('error', () => {})
    await client.connect()
    const user = await client.authenticate({ id: 'legacy' })
    expect(user).toEqual({})
    client.send(new Message1x(0, { hi: true }, 'FROM_1X'))
    await waitFor('the 1.x message', () => serverGot.includes('FROM_1X'))
    await mesa.send(new Message(0, { n: 2 }, 'LIVE'), ['legacy'])
    await waitFor('two messages', () => received.length >= 2)
    expect(received.map((m) => [m.type, m.data.n, m.sequence])).toEqual([
      ['WHILE_AWAY', 1, 1],
      ['LIVE', 2, undefined],
    ])
    // Unanswered, it would be closed after three rounds (150 ms): still connected, so it answered them.
    await delay(400)
    await mesa.send(new Message(0, { n: 3 }, 'STILL_THERE'), ['legacy'])
    await waitFor('a third message', () => received.length >= 3)
  })

  it('mesa-js-client 1.4.8 connects, authenticates, exchanges messages and answers heartbeats', async () => {
    const { mesa, url } = await syncServer({ heartbeat: { enabled: true, interval: 50, maxAttempts: 2 } })
    // mesa-js-client picks the global WebSocket when its module loads; Node 20 has none.
    const g = globalThis as { WebSocket?: unknown }
    const hadWebSocket = 'WebSocket' in g
    g.WebSocket ??= WebSocket
    const { default: MesaJsClient } = await import('mesa-js-client')
    if (!hadWebSocket) delete g.WebSocket
    const client = new MesaJsClient(url, { autoConnect: false })
    scope.defer(() => client.disconnect(1000))
    const received: Received[] = []
    client.onMessage = (message: Received) => received.push(message)
    client.onError = () => {}
    const serverGot: string[] = []
    mesa.on('message', (message) => serverGot.push(String(message.type)))
    await client.connect()
    await client.authenticate({ id: 'js' })
    client.send(0, { hi: true }, 'FROM_JS')
    await waitFor('the js message', () => serverGot.includes('FROM_JS'))
    await delay(400)
    await mesa.send(new Message(0, { n: 1 }, 'LIVE'), ['js'])
    await waitFor('a message', () => received.length >= 1)
    expect(received[0]).toMatchObject({ opcode: 0, data: { n: 1 }, type: 'LIVE' })
  })
})
