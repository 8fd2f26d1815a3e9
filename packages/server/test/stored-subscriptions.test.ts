import { MemoryAdapter, type SubscriptionEnvelope } from '@mesa/core/server'
import { channelFrames, waitFor } from '@mesa/test-kit'
import { describe, expect, it } from 'vitest'
import { acceptIds, connect, startServer, track } from './helpers.js'

/** What a Dispatcher does: change the user's set in the adapter, then tell every server. */
async function dispatcherChange(adapter: MemoryAdapter, userId: string, channel: string, subscribe: boolean): Promise<void> {
  if (subscribe) await adapter.userChannels.add(channel, [userId], 128)
  else await adapter.userChannels.remove(channel, [userId])
  const envelope: SubscriptionEnvelope = { kind: 'subscription', origin: 'dispatcher', userIds: [userId], channel, subscribe }
  await adapter.publish(envelope)
}

/** A server on a memory adapter where a dispatcher subscribed user `ada` to room:1 and room:2. */
async function serverWithStoredChannels() {
  const adapter = track(new MemoryAdapter())
  const { mesa, url } = await startServer({ adapter })
  acceptIds(mesa)
  await adapter.userChannels.add('room:1', ['ada'], 128)
  await adapter.userChannels.add('room:2', ['ada'], 128)
  return { adapter, mesa, url }
}

describe("a Dispatcher's subscriptions kept in the adapter", () => {
  it('apply to a socket when it authenticates, after op 22, for protocol 2 and 1.x sockets', async () => {
    const { mesa, url } = await serverWithStoredChannels()
    const socket = await connect(url, { v2: true })
    await socket.authenticate({ id: 'ada' })
    await socket.waitFor('two op 31', () => socket.frames.filter((f) => f.op === 31).length === 2)
    const ack = socket.frames.findIndex((f) => f.op === 22)
    expect(socket.frames.findIndex((f) => f.op === 31)).toBeGreaterThan(ack)
    expect(channelFrames(socket, 31, 'room:2')[0]).toMatchObject({ x: { srv: true } })
    const legacy = await connect(url)
    await legacy.authenticate({ id: 'ada' })
    await waitFor('both sockets on both channels', () => mesa.clients.every((client) => client.channels.length === 2))
    expect(mesa.clients.map((client) => client.channels.sort())).toEqual([
      ['room:1', 'room:2'],
      ['room:1', 'room:2'],
    ])
  })

  it('an unsubscription arriving while the read is in flight wins over the read’s older answer', async () => {
    const { adapter, mesa, url } = await serverWithStoredChannels()
    // The read answers what the set held when it began, but only once the test lets it.
    const read = adapter.userChannels.channelsOf.bind(adapter.userChannels)
    let release: () => void = () => {}
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    let reads = 0
    adapter.userChannels.channelsOf = async (userId) => {
      reads++
      const answer = await read(userId)
      await released
      return answer
    }
    const socket = await connect(url, { v2: true })
    await socket.authenticate({ id: 'ada' })
    await waitFor('the read to begin', () => reads === 1)
    await dispatcherChange(adapter, 'ada', 'room:1', false)
    await dispatcherChange(adapter, 'ada', 'room:3', true)
    await socket.waitFor('room:3', () => channelFrames(socket, 31, 'room:3').length === 1)
    release()
    await socket.waitFor('room:2', () => channelFrames(socket, 31, 'room:2').length === 1)
    // A marker subscription, answered after anything the read could still have set up.
    await dispatcherChange(adapter, 'ada', 'marker', true)
    await socket.waitFor('the marker', () => channelFrames(socket, 31, 'marker').length === 1)
    expect(channelFrames(socket, 31, 'room:1')).toEqual([])
    expect(mesa.clients[0]!.channels.sort()).toEqual(['marker', 'room:2', 'room:3'])
  })
})
