import { ConfigError, Message } from '@mesa/core'
import {
  type DispatchEnvelope,
  encodeMessage,
  type Envelope,
  GLOBAL_STREAM,
  MemoryAdapter,
  userStream,
} from '@mesa/core/server'
import { delay, Scope, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { DispatchError, DispatchEvent, Dispatcher, DispatcherClosedError } from '../src/index.js'
import { loadRedisAdapter } from '../src/resolve-adapter.js'

type Outgoing = { NEW_MESSAGE: { content: string }; STATUS_UPDATE: { userId: string; status: string } }

const scope = new Scope()
afterEach(() => scope.cleanup())

/** An adapter and what a server subscribed to it would receive. */
async function setup(options: ConstructorParameters<typeof Dispatcher>[1] = {}) {
  const adapter = new MemoryAdapter()
  scope.defer(() => adapter.close())
  const envelopes: Envelope[] = []
  await adapter.subscribe('server-1', (envelope) => envelopes.push(envelope))
  const dispatcher = new Dispatcher<Outgoing>(adapter, options)
  scope.defer(() => dispatcher.close())
  return { adapter, envelopes, dispatcher }
}

async function settled(envelopes: Envelope[], count: number): Promise<void> {
  await waitFor(`${count} envelopes`, () => envelopes.length >= count, 2000, 2)
}

function newMessage(content: string, sync = true): Message<'NEW_MESSAGE', { content: string }> {
  return new Message(0, { content }, 'NEW_MESSAGE', { sync })
}

describe('Dispatcher with the memory adapter', () => {
  it('publishes one envelope per message, to every authenticated user by default', async () => {
    const { envelopes, dispatcher } = await setup()
    const message = newMessage('hello')
    await dispatcher.dispatch(message)
    await settled(envelopes, 1)
    const envelope = envelopes[0] as DispatchEnvelope
    expect(envelope.kind).toBe('dispatch')
    expect(envelope.origin).toBe(dispatcher.id)
    expect(envelope.frame).toBe(encodeMessage(message))
    expect(envelope.recipients).toEqual(['*'])
    expect(envelope.sequences).toBeUndefined()
  })

  it('targets user ids and leaves out excluded ones', async () => {
    const { envelopes, dispatcher } = await setup()
    await dispatcher.dispatch(newMessage('to two'), ['u1', 'u2', 'u3'], ['u2'])
    await dispatcher.dispatch(newMessage('to all but u1'), ['*'], ['u1'])
    await settled(envelopes, 2)
    const [targeted, broadcast] = envelopes as DispatchEnvelope[]
    expect(targeted?.recipients?.filter((id) => !targeted.excluding?.includes(id))).toEqual(['u1', 'u3'])
    expect(broadcast?.recipients).toEqual(['*'])
    expect(broadcast?.excluding).toEqual(['u1'])
  })

  it('sends nothing for an empty recipient list', async () => {
    const { envelopes, dispatcher, adapter } = await setup({ sync: true })
    await dispatcher.dispatch(newMessage('nobody'), [])
    await delay(10)
    expect(envelopes).toEqual([])
    expect((await adapter.store.head(GLOBAL_STREAM)).seq).toBe(0)
  })

  it('with sync, stores targeted messages in each recipient stream before publishing', async () => {
    const { envelopes, dispatcher, adapter } = await setup({ sync: true })
    const message = newMessage('stored')
    await dispatcher.dispatch(message, ['u1', 'u2'])
    // Stored before dispatch() resolved: the publish happens after the store write.
    for (const user of ['u1', 'u2']) {
      const head = await adapter.store.head(userStream(user))
      expect(head.seq).toBe(1)
      const read = await adapter.store.readAfter(userStream(user), { epoch: head.epoch, seq: 0 })
      expect(read.status).toBe('ok')
      if (read.status === 'ok') expect(read.entries.map((e) => e.frame)).toEqual([encodeMessage(message)])
    }
    await settled(envelopes, 1)
    const envelope = envelopes[0] as DispatchEnvelope
    expect(envelope.recipients).toEqual(['u1', 'u2'])
    expect(envelope.sequences?.users).toEqual([1, 1])
  })

  it('with sync, stores broadcasts in the global stream with the excluded users', async () => {
    const { envelopes, dispatcher, adapter } = await setup({ sync: { enabled: true } })
    await dispatcher.dispatch(newMessage('everyone but u9'), ['*'], ['u9'])
    const head = await adapter.store.head(GLOBAL_STREAM)
    expect(head.seq).toBe(1)
    const read = await adapter.store.readAfter(GLOBAL_STREAM, { epoch: head.epoch, seq: 0 })
    expect(read.status === 'ok' && read.entries[0]?.excluding).toEqual(['u9'])
    await settled(envelopes, 1)
    expect((envelopes[0] as DispatchEnvelope).sequences?.global).toEqual(head)
  })

  it('does not store messages sent with { sync: false }, nor anything without the sync option', async () => {
    const synced = await setup({ sync: true })
    await synced.dispatcher.dispatch(newMessage('typing', false), ['u1'])
    expect((await synced.adapter.store.head(userStream('u1'))).seq).toBe(0)

    const unsynced = await setup()
    await unsynced.dispatcher.dispatch(newMessage('live only'), ['u1'])
    expect((await unsynced.adapter.store.head(userStream('u1'))).seq).toBe(0)
    await settled(unsynced.envelopes, 1)
  })

  it('publishes DISCONNECT_CLIENT as a disconnect envelope, with its code and reason', async () => {
    const { envelopes, dispatcher } = await setup()
    await dispatcher.dispatch(new DispatchEvent('DISCONNECT_CLIENT', { reason: 'banned' }), ['u1', 'u2'], ['u2'])
    await dispatcher.disconnect(['u3'], { code: 4100 })
    // The Mesa 1.x spelling.
    await dispatcher.dispatch(new Message(5, {}, 'DISCONNECT_CLIENT') as never, ['u4'])
    await settled(envelopes, 3)
    expect(envelopes).toEqual([
      { kind: 'disconnect', origin: dispatcher.id, userIds: ['u1'], reason: 'banned' },
      { kind: 'disconnect', origin: dispatcher.id, userIds: ['u3'], code: 4100 },
      { kind: 'disconnect', origin: dispatcher.id, userIds: ['u4'] },
    ])
  })

  it('refuses to disconnect "*" and rejects bad arguments with typed errors, publishing nothing', async () => {
    const { envelopes, dispatcher } = await setup()
    await expect(dispatcher.dispatch(new DispatchEvent('DISCONNECT_CLIENT'))).rejects.toBeInstanceOf(DispatchError)
    await expect(dispatcher.disconnect(['*'])).rejects.toThrow(/"\*" \(everyone\) is refused/)
    await expect(dispatcher.dispatch(newMessage('x'), 'u1' as unknown as string[])).rejects.toThrow(
      'recipients must be an array of user ids',
    )
    await expect(dispatcher.dispatch(newMessage('x'), ['u1', ''])).rejects.toBeInstanceOf(DispatchError)
    await expect(dispatcher.dispatch(newMessage('x'), ['u1'], [3] as unknown as string[])).rejects.toThrow(
      'excluding must hold non-empty strings',
    )
    await expect(dispatcher.dispatch({ opcode: 0, data: {} } as never)).rejects.toThrow('takes a Message')
    await expect(dispatcher.dispatch(new Message(5, {}, 'REBOOT') as never)).rejects.toThrow(
      'opcode 5 carries only DISCONNECT_CLIENT',
    )
    expect(() => new DispatchEvent('REBOOT' as 'DISCONNECT_CLIENT')).toThrow(DispatchError)
    expect(() => new DispatchEvent('DISCONNECT_CLIENT', { code: 1006 })).toThrow('1000 or within 3000-4999')
    expect(() => new DispatchEvent('DISCONNECT_CLIENT', { reason: 'x'.repeat(124) })).toThrow('123 bytes')
    await delay(10)
    expect(envelopes).toEqual([])
  })

  it('types messages by the map', async () => {
    const { dispatcher } = await setup()
    await dispatcher.dispatch(new Message(0, { userId: 'u1', status: 'online' }, 'STATUS_UPDATE'))
    // @ts-expect-error: NEW_MESSAGE carries { content: string }
    await dispatcher.dispatch(new Message(0, { content: 42 }, 'NEW_MESSAGE'))
  })

  it('rejects sends after close() and leaves a shared adapter open', async () => {
    const { dispatcher, adapter } = await setup()
    await Promise.all([dispatcher.close(), dispatcher.close()])
    await expect(dispatcher.dispatch(newMessage('late'))).rejects.toBeInstanceOf(DispatcherClosedError)
    await expect(dispatcher.disconnect(['u1'])).rejects.toBeInstanceOf(DispatcherClosedError)
    await expect(adapter.publish({ kind: 'disconnect', origin: 'x', userIds: ['u1'] })).resolves.toBeUndefined()
  })

  it('rejects bad constructor arguments with a ConfigError', async () => {
    const adapter = new MemoryAdapter({ namespace: 'a' })
    scope.defer(() => adapter.close())
    expect(() => new Dispatcher(42 as unknown as string)).toThrow(ConfigError)
    expect(() => new Dispatcher(null as unknown as string)).toThrow(ConfigError)
    expect(() => new Dispatcher(adapter, { namespace: 'b' })).toThrow(/differs from the adapter's namespace "a"/)
    expect(() => new Dispatcher(adapter, { sync: 'yes' as unknown as boolean })).toThrow(ConfigError)
    expect(() => new Dispatcher(adapter, { id: '' })).toThrow(ConfigError)
    expect(() => new Dispatcher(adapter, null as never)).toThrow('options must be an object')
  })

  it('names the package to install when a URL is given without @mesa/redis-adapter', async () => {
    const missing = '@mesa/redis-adapter-that-is-not-installed'
    const failure = loadRedisAdapter('redis://127.0.0.1:6379', 'ns', missing)
    await expect(failure).rejects.toBeInstanceOf(ConfigError)
    await expect(failure).rejects.toThrow(`needs the optional package ${missing}`)
  })
})
