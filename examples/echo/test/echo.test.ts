import { Client, Message } from '@mesa/client-node'
import { afterEach, describe, expect, it } from 'vitest'
import { Scope } from '@mesa/test-kit'
import { startEchoServer } from '../src/echo.mjs'

describe('echo example', () => {
  const scope = new Scope()
  afterEach(() => scope.cleanup())

  it('sends every message back to its sender, with its type, data and sync option', async () => {
    const mesa = await startEchoServer({ port: 0 })
    scope.defer(() => mesa.close())
    const client = new Client(`ws://127.0.0.1:${mesa.port}`)
    scope.defer(() => client.disconnect())
    const other = new Client(`ws://127.0.0.1:${mesa.port}`)
    scope.defer(() => other.disconnect())
    const echoed: Message[] = []
    const overheard: Message[] = []
    client.on('message', (message) => echoed.push(message))
    other.on('message', (message) => overheard.push(message))

    expect(await client.authenticate({ id: 'me', plan: 'test' })).toEqual({ id: 'me', plan: 'test' })
    expect(await other.authenticate({})).toEqual({ id: expect.stringMatching(/^anonymous-\d+$/) })
    client.send(new Message(0, { hello: 'world' }, 'PING'))
    client.send(new Message(0, { typing: true }, 'TYPING', { sync: false }))
    await expect.poll(() => echoed.length, { timeout: 10_000 }).toBe(2)
    expect(echoed.map((m) => [m.type, m.data, m.options.sync])).toEqual([
      ['PING', { hello: 'world' }, true],
      ['TYPING', { typing: true }, false],
    ])
    // Only the sender gets the echo.
    other.send(new Message(0, { n: 1 }, 'PONG'))
    await expect.poll(() => overheard.length, { timeout: 10_000 }).toBe(1)
    expect(echoed).toHaveLength(2)
  })
})
