import { expect } from 'vitest'
import type { ContractTest } from './contract-test.js'

const sorted = (channels: string[]) => [...channels].sort()

/** `userChannels`: the channels users were subscribed to from a backend, read when their sockets authenticate. */
export function userChannelsContract(test: ContractTest): void {
  test('adds and removes a channel for many users at once, seen from every adapter of the namespace', async (t) => {
    const [a, b] = await t.pair()
    expect(await a.userChannels.add('room:1', ['alice', 'bob'], 10)).toEqual([])
    expect(await b.userChannels.add('room:2', ['alice'], 10)).toEqual([])
    expect(sorted(await b.userChannels.channelsOf('alice'))).toEqual(['room:1', 'room:2'])
    expect(await a.userChannels.channelsOf('bob')).toEqual(['room:1'])
    expect(await a.userChannels.channelsOf('carol')).toEqual([])

    await b.userChannels.remove('room:1', ['alice', 'bob', 'carol'])
    expect(await a.userChannels.channelsOf('alice')).toEqual(['room:2'])
    expect(await a.userChannels.channelsOf('bob')).toEqual([])
  })

  test('is idempotent, and keeps user ids and channel names of any characters apart', async (t) => {
    const [a, b] = await t.pair()
    const odd = ['user:1', 'user 1', 'ünï{1}', '*']
    for (let i = 0; i < 2; i++) expect(await a.userChannels.add('news/eu=1,+!~@', odd, 10)).toEqual([])
    await a.userChannels.add('news', ['user:1'], 10)
    for (const id of odd) expect(sorted(await b.userChannels.channelsOf(id))).toEqual(id === 'user:1' ? ['news', 'news/eu=1,+!~@'] : ['news/eu=1,+!~@'])
    await a.userChannels.remove('news/eu=1,+!~@', odd)
    await a.userChannels.remove('news/eu=1,+!~@', odd)
    expect(await b.userChannels.channelsOf('user 1')).toEqual([])
    expect(await b.userChannels.channelsOf('user:1')).toEqual(['news'])
    await a.userChannels.add('x', [], 10)
    await a.userChannels.remove('x', [])
  })

  test('refuses users whose set is full, adds the channel for the others, and never refuses a channel a user has', async (t) => {
    const [a, b] = await t.pair()
    await a.userChannels.add('c1', ['full', 'room'], 2)
    await a.userChannels.add('c2', ['full'], 2)
    expect(await b.userChannels.add('c3', ['room', 'full', 'new'], 2)).toEqual(['full'])
    expect(sorted(await a.userChannels.channelsOf('full'))).toEqual(['c1', 'c2'])
    expect(sorted(await a.userChannels.channelsOf('room'))).toEqual(['c1', 'c3'])
    expect(await a.userChannels.channelsOf('new')).toEqual(['c3'])
    expect(await b.userChannels.add('c2', ['full'], 2)).toEqual([])
    // Removing one makes room again.
    await b.userChannels.remove('c1', ['full'])
    expect(await a.userChannels.add('c3', ['full'], 2)).toEqual([])
    expect(sorted(await a.userChannels.channelsOf('full'))).toEqual(['c2', 'c3'])
  })

  test('never takes a set past the bound under concurrent adds from several adapters', async (t) => {
    const [a, b] = await t.pair()
    const adds = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).userChannels.add(`c${i}`, ['u'], 5))
    const refused = await Promise.all(adds)
    expect(refused.filter((ids) => ids.length === 0)).toHaveLength(5)
    expect(await a.userChannels.channelsOf('u')).toHaveLength(5)
  })

  test('keeps the sets when an adapter closes: they belong to the users, not to a server', async (t) => {
    const namespace = t.namespace()
    const first = await t.adapter({ namespace })
    await first.userChannels.add('room:1', ['alice'], 10)
    await first.close()
    const second = await t.adapter({ namespace })
    expect(await second.userChannels.channelsOf('alice')).toEqual(['room:1'])
  }, { sharedBackend: true })
}
