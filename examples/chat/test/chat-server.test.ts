import { Client, Message } from '@mesa/client-node'
import { MemoryAdapter } from '@mesa/core'
import { Mesa } from '@mesa/server'
import { nextEvent, Scope, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { attachChat, CHAT_CHANNEL_RULES } from '../src/chat.mjs'

/** What `SAY` does when the room's channel cannot take it: the page's acknowledged send says so, or is sent again. */
describe('the chat server when storing or publishing fails', () => {
  const scope = new Scope()
  afterEach(() => scope.cleanup())

  async function room(adapter: MemoryAdapter) {
    const mesa = scope.add(new Mesa({ port: 0, host: '127.0.0.1', adapter, channels: { rules: CHAT_CHANNEL_RULES } }), (m) => m.close())
    const errors: string[] = []
    mesa.on('error', (error) => errors.push(error.message))
    attachChat(mesa)
    await mesa.listening()
    const client = new Client(`ws://127.0.0.1:${mesa.port}`)
    scope.defer(() => client.disconnect())
    await client.authenticate({ name: 'ann' })
    const general = client.subscribe('room:general')
    await nextEvent(general, 'subscribed')
    const said: string[] = []
    general.on('message', (message) => said.push(`${message.sequence}:${(message.data as { text: string }).text}`))
    const say = (text: string) => client.send(new Message(0, { room: 'general', text }, 'SAY'), { ack: true })
    return { mesa, errors, said, say }
  }

  it('a message the store refused is sent again by the client and published once', async () => {
    const adapter = new MemoryAdapter()
    const { mesa, errors, said, say } = await room(adapter)
    const append = vi.spyOn(adapter.store, 'append').mockRejectedValueOnce(new Error('disk full'))
    // The server answers `unavailable`; the client sends it again 500 ms later, and that one is stored.
    await say('persistent')
    expect(append).toHaveBeenCalledTimes(2)
    await waitFor('the publication', () => said.length === 1)
    expect(said).toEqual(['1:persistent'])
    const history = await mesa.history('room:general', { limit: 10 })
    expect(history.status === 'ok' && history.messages.map((message) => message.data)).toEqual([expect.objectContaining({ text: 'persistent' })])
    expect(errors.some((message) => message.includes('disk full'))).toBe(true)
  })

  it('a message stored but not passed on to other servers is accepted, not published again', async () => {
    const adapter = new MemoryAdapter()
    const { mesa, said, say } = await room(adapter)
    const publish = vi.spyOn(adapter, 'publish').mockRejectedValueOnce(new Error('bus down'))
    await say('stored')
    await say('next')
    await waitFor('both publications', () => said.length === 2)
    expect(said).toEqual(['1:stored', '2:next'])
    expect(publish).toHaveBeenCalledTimes(2)
    const history = await mesa.history('room:general', { limit: 10 })
    expect(history.status === 'ok' && history.messages.map((message) => message.sequence)).toEqual([1, 2])
  })
})
