import { ConnectionClosedError } from '@mesa/core'
import { MemoryAdapter } from '@mesa/core/server'
import { describe, expect, it } from 'vitest'
import { delay, upgrade } from '@mesa/test-kit'
import { CloseCode, Message, Mesa } from '../src/index.js'
import { connect, startServer, track } from './helpers.js'

describe('graceful shutdown', () => {
  it('closes every socket with 1001, resolves once all are closed, and stops accepting', async () => {
    const { mesa, url } = await startServer({ heartbeat: { enabled: true, interval: 1000 }, authentication: { timeout: 1000 } })
    const disconnections: number[] = []
    mesa.on('disconnection', (code) => disconnections.push(code))
    const sockets = await Promise.all(Array.from({ length: 5 }, () => connect(url)))
    await mesa.close()
    expect(mesa.connectionCount).toBe(0)
    expect(disconnections).toEqual([1001, 1001, 1001, 1001, 1001])
    for (const socket of sockets) expect(socket.closeCode).toBe(CloseCode.GoingAway)
    await expect(upgrade(url)).rejects.toThrow(/ECONNREFUSED/)
    await expect(mesa.send(new Message(0, {}, 'LATE'))).rejects.toBeInstanceOf(ConnectionClosedError)
    expect(mesa.close()).toBe(mesa.close())
  })

  it('closes with the code and reason given (a draining gateway: 1012), and rejects codes a server may not send', async () => {
    const { mesa, url } = await startServer()
    const socket = await connect(url)
    expect(() => mesa.close({ code: 1006 })).toThrow(/not a close code/)
    await mesa.close({ code: CloseCode.ServiceRestart, reason: 'restarting' })
    expect(await socket.waitClose()).toMatchObject({ code: 1012, reason: 'restarting' })
  })

  it('closes the adapter it created, but not one it was given, and leaves it', async () => {
    const shared = new MemoryAdapter()
    const mesa = track(new Mesa({ port: 0, host: '127.0.0.1', adapter: shared }))
    const other = track(new Mesa({ port: 0, host: '127.0.0.1', adapter: shared }))
    await Promise.all([mesa.listening(), other.listening()])
    other.on('connection', (client) => client.authenticate((_, done) => done(null, { id: 'u', user: {} })))
    const socket = await connect(`ws://127.0.0.1:${other.port}`)
    await socket.authenticate({})
    await mesa.close()
    await other.send(new Message(0, {}, 'AFTER'), ['u'])
    await socket.waitForMessages(1)
    await shared.publish({ kind: 'disconnect', origin: 'test', userIds: ['u'] })
    expect((await socket.waitClose()).code).toBe(CloseCode.DisconnectedByServer)

    const owned = track(new Mesa({ port: 0, host: '127.0.0.1' }))
    await owned.listening()
    const adapter = owned.adapter!
    await owned.close()
    await expect(adapter.publish({ kind: 'disconnect', origin: 'test', userIds: [] })).rejects.toThrow(/closed/)
  })

  it('leaves no timer behind: a paced replay in progress ends with the close', async () => {
    const { mesa, url } = await startServer({ sync: { enabled: true, redeliveryInterval: 10_000 } })
    mesa.on('connection', (client) => client.authenticate((_, done) => done(null, { id: 'r', user: {} })))
    const first = await connect(url, { v2: true })
    const ack = await first.authenticate({})
    const position = (ack.x!.streams as { user: { epoch: string; seq: number } }).user
    first.close()
    await first.waitClose()
    await mesa.send(new Message(0, { n: 1 }, 'M'), ['r'])
    await mesa.send(new Message(0, { n: 2 }, 'M'), ['r'])
    const second = await connect(url, { v2: true })
    await second.authenticate({}, { resume: { user: position } })
    await second.waitForMessages(1)
    const started = Date.now()
    await mesa.close()
    expect(Date.now() - started).toBeLessThan(5000)
    await delay(50)
    expect(second.messages).toHaveLength(1)
  })
})
