import { afterEach, describe, expect, it } from 'vitest'
import { Scope } from '../../../test/integration/harness/scope.js'
import { startScriptedServer } from '../../../test/integration/harness/scripted-server.js'
import { ConfigError, type Message, ProtocolError } from '../src/index.js'
import { openClient, within } from './support.js'

/** @mesa/client-node's limits on what a server may send, against a raw `ws` server that ignores them. */

const scope = new Scope()
afterEach(() => scope.cleanup())

const MiB = 1024 * 1024

/** A v2 hello asking for 20 ms reconnects, then `frames` on the first connection only. */
async function serverSending(...frames: object[]) {
  const server = await startScriptedServer((socket, index) => {
    socket.send(JSON.stringify({ op: 10, d: { c_reconnect_interval: 20, rules: [] }, x: { protocol: 2 } }))
    if (index === 0) for (const frame of frames) socket.send(JSON.stringify(frame))
  })
  scope.defer(() => server.close())
  return server
}

const frameOf = (bytes: number) => ({ op: 0, d: { padding: 'x'.repeat(bytes) }, t: 'BIG' })

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
    await within('a reconnect', () => (client.state === 'open' && server.sockets.length === 2 ? true : undefined))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(ProtocolError)
    expect(errors[0]).toMatchObject({ code: 'payload-too-large', closeCode: 1009 })
    expect(server.closeCodes[0]).toBe(1009)
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
    await within('a reconnect', () => (server.sockets.length === 2 ? true : undefined))
    expect(sizes).toEqual([1.5 * MiB])
    expect(errors).toEqual([expect.objectContaining({ code: 'payload-too-large' })])
    expect(server.closeCodes[0]).toBe(1009)
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
    await within('the first handshake', () => (server.extensions.length === 1 ? true : undefined))
    openClient(scope, server.url, { ws: { perMessageDeflate: true } })
    await within('the second handshake', () => (server.extensions.length === 2 ? true : undefined))
    expect(server.extensions[0]).toBeUndefined()
    expect(server.extensions[1]).toMatch(/^permessage-deflate/)
  })
})
