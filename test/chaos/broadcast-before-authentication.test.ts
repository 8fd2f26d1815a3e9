import { Client, type Message } from '@mesa/client-node'
import { Message as ServerMessage } from '@mesa/server'
import { afterEach, describe, expect, it } from 'vitest'
import { Scope, waitFor, withTimeout } from '@mesa/test-kit'
import { startServer } from '../compat/support.js'

/**
 * The chaos test's failure, reduced: a broadcast to every socket (no recipients) that reaches a reconnecting
 * v2 client after its hello but before it has authenticated again. The server writes it with its global `s`
 * to the not yet authenticated socket; the client takes it as live, moves its global position to that `s`,
 * and resumes from there, so the broadcasts it missed while offline are never replayed.
 */

const scope = new Scope()
afterEach(() => scope.cleanup())

describe('a broadcast between a reconnect and its authentication', () => {
  it('does not make the client skip the broadcasts it missed while offline', async () => {
    const server = await startServer(scope, { sync: { enabled: true } })
    const broadcast = (n: number) => server.mesa.send(new ServerMessage(0, { n }, 'NEWS'))
    const client = new Client(server.url, { backoff: { base: 200, random: () => 1 } })
    scope.defer(() => client.disconnect())
    const seen: [unknown, number | undefined][] = []
    client.on('message', (message: Message) => seen.push([message.data.n, message.sequence]))
    await withTimeout('the authentication', client.authenticate({ id: 'ada' }))
    await broadcast(1)
    await waitFor('the first broadcast', () => seen.length === 1)

    // The server sees the socket go abruptly, and sends while ada is away.
    const dropped = new Promise((resolve) => server.mesa.once('disconnection', resolve))
    server.mesa.clients[0]!.upgradeRequest.socket.destroy()
    await dropped
    // The client comes back 200 ms after the cut (no jitter): time enough to send while it is away.
    await broadcast(2)
    // As soon as the client's new socket is there (hello sent, op 2 not yet received), one more broadcast.
    server.mesa.once('connection', () => void broadcast(3))
    await waitFor('the client to authenticate again', () => client.state === 'authenticated' && seen.length >= 2)
    await broadcast(4)
    await waitFor('the broadcast after the reconnect', () => seen.some(([n]) => n === 4))

    expect(seen).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
    ])
  })
})
