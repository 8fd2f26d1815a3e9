import type { Frame } from '@mesa/core'
import { Scope, ScriptedServer, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError, type Message, ProtocolError } from '../src/index.js'
import { openClient } from './support.js'

/** @mesa/client-node's limits on what a server may send, against a raw `ws` server that ignores them. */

const scope = new Scope()
afterEach(() => scope.cleanup())

const MiB = 1024 * 1024

/** A v2 hello asking for 20 ms reconnects, then `frames` on the first connection only. */
async function serverSending(...frames: Frame[]) {
  const server = await ScriptedServer.start({
    hello: () => ({ op: 10, d: { c_reconnect_interval: 20, rules: [] }, x: { protocol: 2 } }),
    onConnection: (side, index) => {
      if (index === 0) for (const frame of frames) side.send(frame)
    },
  })
  scope.defer(() => server.close())
  return server
}

const frameOf = (bytes: number): Frame => ({ op: 0, d: { padding: 'x'.repeat(bytes) }, t: 'BIG' })

describe('@mesa/client-node limits', () => {
  it('closes with 1009 on a frame over the default maxPayload (1 MiB), reports a ProtocolError and reconnects', async () => {
    const server = await serverSending(frameOf(MiB))
    const client = openClient(scope, server.url)
    const errors: Error[] = []
    const disconnects: unknown[] = []
    const messages: Message[] = []
    client.on('error', (error) => errors.push(error))
    client.on('disconnected', (code, _reason, { willAttemptReconnect }) => disconnects.push({ code, willAttemptReconnect }))
    client.on('message', (message) => messages.push(message))
    await waitFor('a reconnect', () => client.state === 'open' && server.sockets.length === 2)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(ProtocolError)
    expect(errors[0]).toMatchObject({ code: 'payload-too-large', closeCode: 1009 })
    expect(await server.sockets[0]!.closed()).toBe(1009)
    expect(disconnects).toEqual([{ code: 1009, willAttemptReconnect: true }])
    expect(messages).toEqual([])
  })

  it('takes frames up to the maxPayload it is given, and no larger', async () => {
    const server = await serverSending(frameOf(1.5 * MiB), frameOf(2 * MiB))
    const client = openClient(scope, server.url, { maxPayload: 2 * MiB })
    const errors: Error[] = []
    const sizes: number[] = []
    client.on('error', (error) => errors.push(error))
    client.on('message', (message) => sizes.push(String(message.data.padding).length))
    await waitFor('a reconnect', () => server.sockets.length === 2)
    expect(sizes).toEqual([1.5 * MiB])
    expect(errors).toEqual([expect.objectContaining({ code: 'payload-too-large' })])
    expect(await server.sockets[0]!.closed()).toBe(1009)
  })

  it('rejects a maxPayload that is not a positive integer with ConfigError', () => {
    for (const maxPayload of [0, -1, 1.5, Number.NaN]) {
      expect(() => openClient(scope, 'ws://127.0.0.1:1', { maxPayload, autoConnect: false })).toThrow(ConfigError)
    }
  })

  it('offers permessage-deflate only when its ws options ask for it', async () => {
    const server = await serverSending()
    openClient(scope, server.url)
    // One after the other, so that the handshakes come in this order.
    const first = await server.connection(0)
    openClient(scope, server.url, { ws: { perMessageDeflate: true } })
    const second = await server.connection(1)
    expect(first.extensions).toBeUndefined()
    expect(second.extensions).toMatch(/^permessage-deflate/)
  })
})
