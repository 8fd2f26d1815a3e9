import { MemoryAdapter } from '@mesa/core/server'
import {
  channelFrames,
  delay,
  rejectionOf,
  subscribe,
  unsubscribe,
  waitFor,
  waitForChannelFrame,
  waitForPublications,
} from '@mesa/test-kit'
import { describe, expect, it } from 'vitest'
import { ChannelError, Message, type Mesa, type MesaOptions } from '../src/index.js'
import { acceptIds, startServer, user } from './helpers.js'

const RULES: MesaOptions['channels'] = {
  rules: { 'room:': { joinLeave: true }, 'doc:': { presence: true }, 'doc:private:': { presence: false } },
}

async function channelServer(options: MesaOptions = {}) {
  const started = await startServer({ channels: RULES, ...options })
  acceptIds(started.mesa)
  started.mesa.channels.authorize((client, channel) => (client.userId === 'ghost' ? { presence: false } : channel !== 'forbidden'))
  return started
}

async function membersOf(mesa: Mesa, channel: string, count: number): Promise<string[]> {
  let users: string[] = []
  await waitFor(`${count} members of ${channel}`, async () => {
    const members = await mesa.presence(channel)
    users = [...members.users].sort()
    expect(members.count).toBe(members.users.length)
    return members.count === count
  })
  return users
}

describe('channel presence', () => {
  it('lists the users subscribed to a presence channel, once per user, until their last socket leaves', async () => {
    const { mesa, url } = await channelServer()
    const ada = await user(url, 'ada', true)
    const adaAgain = await user(url, 'ada', true)
    const bob = await user(url, 'bob', true)
    for (const client of [ada, adaAgain, bob]) await subscribe(client, 'doc:1')
    expect(await membersOf(mesa, 'doc:1', 2)).toEqual(['ada', 'bob'])
    await unsubscribe(ada, 'doc:1')
    bob.close()
    expect(await membersOf(mesa, 'doc:1', 1)).toEqual(['ada'])
    adaAgain.terminate()
    expect(await membersOf(mesa, 'doc:1', 0)).toEqual([])
  })

  it('keeps no presence where the rule does not ask for it, nor for subscribers the hook keeps out of it', async () => {
    const { mesa, url } = await channelServer()
    const ada = await user(url, 'ada', true)
    const ghost = await user(url, 'ghost', true)
    await subscribe(ada, 'news')
    await subscribe(ada, 'doc:private:1')
    await subscribe(ghost, 'doc:2')
    await delay(20)
    expect(await mesa.presence('news')).toEqual({ users: [], count: 0 })
    expect(await mesa.presence('doc:private:1')).toEqual({ users: [], count: 0 })
    expect(await mesa.presence('doc:2')).toEqual({ users: [], count: 0 })
    expect(await rejectionOf('a bad name', mesa.presence('no good'))).toBeInstanceOf(ChannelError)
  })

  it('sends op 34 when a user joins (first socket) or leaves (last socket) a joinLeave channel, to protocol 2 subscribers', async () => {
    const { mesa, url } = await channelServer()
    const ada = await user(url, 'ada', true)
    await subscribe(ada, 'room:1')
    const legacy = await user(url, 'old')
    await mesa.clients.find((client) => client.userId === 'old')!.subscribe('room:1')
    const bob = await user(url, 'bob', true)
    const bobAgain = await user(url, 'bob', true)
    await subscribe(bob, 'room:1')
    await subscribe(bobAgain, 'room:1')
    expect(await waitForChannelFrame(ada, 34, 'room:1', 2)).toEqual({ op: 34, t: 'room:1', d: { user: 'bob', joined: true } })
    await unsubscribe(bob, 'room:1')
    bobAgain.close()
    expect((await waitForChannelFrame(ada, 34, 'room:1', 3)).d).toEqual({ user: 'bob', joined: false })
    // Ada's own join came first; the 1.x socket of `old` joined too (it has a user id) but is told nothing.
    expect(channelFrames(ada, 34, 'room:1').map((frame) => frame.d)).toEqual([
      { user: 'ada', joined: true },
      { user: 'old', joined: true },
      { user: 'bob', joined: true },
      { user: 'bob', joined: false },
    ])
    await delay(20)
    expect(legacy.frames.filter((frame) => frame.op !== 10 && frame.op !== 22)).toEqual([])
    // A channel without joinLeave sends none.
    await subscribe(ada, 'doc:1')
    await subscribe(bob, 'doc:1')
    await delay(20)
    expect(channelFrames(ada, 34, 'doc:1')).toEqual([])
  })

  it('op 34 reaches subscribers on other servers, after the joining socket got its op 31', async () => {
    const adapter = new MemoryAdapter()
    const a = await channelServer({ adapter })
    const b = await channelServer({ adapter })
    const ada = await user(a.url, 'ada', true)
    await subscribe(ada, 'room:x')
    const bob = await user(b.url, 'bob', true)
    await subscribe(bob, 'room:x')
    expect((await waitForChannelFrame(ada, 34, 'room:x', 1)).d).toEqual({ user: 'bob', joined: true })
    const own = bob.frames.findIndex((frame) => frame.op === 34)
    expect(own).toBeGreaterThan(bob.frames.findIndex((frame) => frame.op === 31))
    bob.terminate()
    expect((await waitForChannelFrame(ada, 34, 'room:x', 2)).d).toEqual({ user: 'bob', joined: false })
    expect(await a.mesa.presence('room:x')).toEqual({ users: ['ada'], count: 1 })
  })
})

describe('channel history', () => {
  it('reads the latest publications, or those after a position, all or nothing', async () => {
    const adapter = new MemoryAdapter({ retention: { maxEntries: 5 } })
    const { mesa, url } = await channelServer({ adapter })
    for (let n = 1; n <= 7; n++) await mesa.publish('news', new Message(0, { n }, 'M'))
    const latest = await mesa.history('news', { limit: 2 })
    expect(latest.status).toBe('ok')
    if (latest.status !== 'ok') return
    expect(latest.messages.map((message) => [message.data, message.sequence])).toEqual([
      [{ n: 6 }, 6],
      [{ n: 7 }, 7],
    ])
    expect(latest.head.seq).toBe(7)
    const retained = await mesa.history('news', { limit: 100 })
    expect(retained.status === 'ok' && retained.messages.map((message) => message.sequence)).toEqual([3, 4, 5, 6, 7])
    const after = await mesa.history('news', { after: { epoch: latest.head.epoch, seq: 4 }, limit: 2 })
    expect(after.status === 'ok' && after.messages.map((message) => message.sequence)).toEqual([5, 6])
    expect(await mesa.history('news', { after: { epoch: latest.head.epoch, seq: 1 } })).toEqual({ status: 'trimmed', head: latest.head })
    expect(await mesa.history('news', { after: { epoch: 'other', seq: 1 } })).toMatchObject({ status: 'epoch-changed' })
    expect(await mesa.history('empty', {})).toEqual({ status: 'ok', messages: [], head: { epoch: expect.any(String), seq: 0 } })
    // A late joiner: the history up to its subscription's position, then live publications.
    const client = await user(url, 'late', true)
    const subscribed = await subscribe(client, 'news')
    const before = await mesa.history('news', { limit: 3 })
    expect(before.status === 'ok' && before.head).toEqual(subscribed.x!.pos)
    await mesa.publish('news', new Message(0, { n: 8 }, 'M'))
    expect((await waitForPublications(client, 'news', 1))[0]!.s).toBe(8)
  })

  it('rejects bad channels and queries', async () => {
    const { mesa } = await channelServer()
    expect(await rejectionOf('a bad channel', mesa.history('a b', { limit: 1 }))).toMatchObject({ code: 'invalid-channel' })
    for (const query of [null, { limit: 0 }, { limit: 10_001 }, { limit: 1.5 }, { after: { epoch: 1, seq: 2 } }]) {
      expect(await rejectionOf(`query ${JSON.stringify(query)}`, mesa.history('news', query as never))).toBeInstanceOf(TypeError)
    }
  })
})
