import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { Scope, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { SocketListeners } from '../src/socket-listeners.js'

const scope = new Scope()
afterEach(() => scope.cleanup())

describe('SocketListeners', () => {
  it("shares one set of listeners among a server's sockets and hands each event to its own socket's connection", async () => {
    const events: string[] = []
    const listeners = new SocketListeners<string>({
      message: (connection, data) => events.push(`${connection} message ${data.toString()}`),
      close: (connection, code, reason) => events.push(`${connection} close ${code} ${reason}`),
      error: (connection, error) => events.push(`${connection} error ${error.message}`),
    })
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
    scope.defer(() => new Promise<void>((resolve) => wss.close(() => resolve())))
    await once(wss, 'listening')
    const server: WebSocket[] = []
    wss.on('connection', (ws) => {
      listeners.attach(ws, `c${server.length}`)
      server.push(ws)
    })
    const clients = ['a', 'b'].map(() => new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`))
    for (const client of clients) {
      scope.defer(() => client.terminate())
      await once(client, 'open')
    }
    await waitFor('both server sockets', () => server.length === 2, 10_000, 0)
    // The same functions on both sockets (the last added, after ws's own): nothing is allocated per socket but the tag.
    for (const event of ['message', 'close', 'error'] as const) {
      const [first, second] = server.map((ws) => ws.listeners(event).at(-1))
      expect(first).toBeTypeOf('function')
      expect(first).toBe(second)
    }
    clients[1]!.send('to c1')
    clients[0]!.send('to c0')
    await waitFor('both messages', () => events.length === 2, 10_000, 0)
    clients[1]!.close(4000, 'bye')
    await waitFor('the close', () => events.length === 3, 10_000, 0)
    server[0]!.emit('error', new Error('boom'))
    expect(events).toEqual(['c1 message to c1', 'c0 message to c0', 'c1 close 4000 bye', 'c0 error boom'])
  })
})
