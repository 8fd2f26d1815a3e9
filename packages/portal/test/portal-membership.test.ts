import { Message } from '@mesa/core'
import { MemoryAdapter } from '@mesa/core/server'
import { Mesa } from '@mesa/server'
import { afterEach, describe, expect, it } from 'vitest'
import { authenticatedClient, Scope, waitFor } from '@mesa/test-kit'
import { Portal } from '../src/index.js'
import { membershipServer } from './membership-server.js'

const scope = new Scope()
afterEach(() => scope.cleanup())

function memoryAdapter(): MemoryAdapter {
  const adapter = new MemoryAdapter()
  scope.defer(() => adapter.close())
  return adapter
}

const server = (adapter: MemoryAdapter) => membershipServer(scope, adapter)

function portal(adapter: MemoryAdapter, id?: string): Portal {
  const created = new Portal(adapter, id === undefined ? {} : { id })
  scope.defer(() => created.close())
  return created
}

/** A v2 raw client authenticated as `userId`, terminated after the test. */
const client = (url: string, userId: string) => authenticatedClient(scope, url, userId)

describe('onPortalJoin / onPortalLeave with the memory adapter', () => {
  it("fire on every server sharing the adapter with the portal's id when it starts and when it closes", async () => {
    const adapter = memoryAdapter()
    const one = await server(adapter)
    const two = await server(adapter)
    const alice = await client(one.url, 'alice')

    const p = portal(adapter)
    const messages: string[] = []
    p.on('message', (message, userId) => void messages.push(`${message.type} ${userId}`))
    await p.whenReady()
    await waitFor('both servers to see the join', () => one.hooks.length === 1 && two.hooks.length === 1)
    expect(one.hooks).toEqual([`join ${p.id}`])
    expect(two.hooks).toEqual([`join ${p.id}`])
    // Both servers sent it to every socket: alice is on server one and gets it once from each.
    const joined = await alice.waitForDelivered(2, 'PORTAL_JOINED')
    expect(joined.map((frame) => frame.d)).toEqual([{ id: p.id }, { id: p.id }])

    // The portal works while it is a member: a message from a real socket reaches it.
    alice.dispatch('SAY', {})
    await waitFor('the portal to get the message', () => messages.length === 1)
    expect(messages).toEqual(['SAY alice'])

    await p.close()
    await waitFor('both servers to see the leave', () => one.hooks.length === 2 && two.hooks.length === 2)
    expect(one.hooks).toEqual([`join ${p.id}`, `leave ${p.id}`])
    expect(two.hooks).toEqual(one.hooks)
    expect((await alice.waitForDelivered(2, 'PORTAL_LEFT')).map((frame) => frame.d)).toEqual([{ id: p.id }, { id: p.id }])
  })

  it('reports portals already running when the middleware is added, and reportAllEvents portals too', async () => {
    const adapter = memoryAdapter()
    const early = portal(adapter, 'early')
    const observer = new Portal(adapter, { id: 'observer', reportAllEvents: true })
    scope.defer(() => observer.close())
    await Promise.all([early.whenReady(), observer.whenReady()])

    const { hooks } = await server(adapter)
    await waitFor('the running portals', () => hooks.length === 2)
    expect([...hooks].sort()).toEqual(['join early', 'join observer'])
    await observer.close()
    await waitFor('the observer to leave', () => hooks.length === 3)
    expect(hooks[2]).toBe('leave observer')
  })

  it('sends a failing hook to onError and the error event, and keeps serving', async () => {
    const adapter = memoryAdapter()
    const mesa = new Mesa({ port: 0, host: '127.0.0.1', adapter })
    mesa.on('connection', (client) => {
      client.authenticate((data, done) => done(null, { id: String(data.id), user: {} }))
    })
    scope.defer(() => mesa.close())
    const reported: string[] = []
    const emitted: string[] = []
    mesa.on('error', (error) => void emitted.push(error.message))
    mesa.use(() => ({
      onPortalJoin(id) {
        throw new Error(`join hook broke on ${id}`)
      },
      async onPortalLeave(id) {
        throw new Error(`leave hook broke on ${id}`)
      },
      onError(error) {
        reported.push(error.message)
      },
    }))
    await mesa.listening()

    const p = portal(adapter, 'fragile')
    await p.whenReady()
    await p.close()
    const expected = [
      'middleware onPortalJoin failed: join hook broke on fragile',
      'middleware onPortalLeave failed: leave hook broke on fragile',
    ]
    await waitFor('both failures to be reported', () => reported.length === 2 && emitted.length === 2)
    expect(reported).toEqual(expected)
    expect(emitted).toEqual(expected)

    const bob = await client(`ws://127.0.0.1:${mesa.port}`, 'bob')
    await mesa.send(new Message(0, {}, 'STILL_HERE'), ['bob'])
    expect((await bob.waitForDelivered(1, 'STILL_HERE')).length).toBe(1)
  })

  it('stops the hooks once the server is closed', async () => {
    const adapter = memoryAdapter()
    const { mesa, hooks } = await server(adapter)
    await mesa.close()
    const seen: string[] = []
    await adapter.portal.watchMembers((event) => void seen.push(event.kind))
    const p = portal(adapter, 'after-close')
    await p.whenReady()
    await p.close()
    // A watcher that was there before the portal saw both changes: the closed server would have by now.
    await waitFor('the other watcher to see the join and the leave', () => seen.length === 2)
    expect(hooks).toEqual([])
  })
})
