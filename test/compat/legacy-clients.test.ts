import { Client, Message } from '@mesa/client-node'
import { CloseCode, type MesaOptions } from '@mesa/server'
import { afterEach, describe, expect, it } from 'vitest'
import { crybMesa, type LegacyClient, type LegacyKind, mesaJsClient } from './legacy-clients.js'
import {
  channelFrames,
  delay,
  RawClient,
  type RawClientOptions,
  Scope,
  subscribe,
  type WireFrame,
  waitFor,
  waitForChannelFrame,
  waitForPublications,
  withTimeout,
} from '@mesa/test-kit'
import { type StartedServer, startServer } from './support.js'

/**
 * Mesa 1.x clients, unchanged, against this server (real sockets on 127.0.0.1): every scenario runs with
 * `@cryb/mesa@1.5.8`'s `Client` and with `mesa-js-client@1.4.8`.
 */

const scope = new Scope()
afterEach(() => scope.cleanup())

/** Protocol 2 additions a 1.x client must never see: `x` on any frame, `s` on a live message. */
function protocol2Fields(frames: readonly WireFrame[], replayed = 0): string[] {
  const found: string[] = []
  let sequenced = 0
  for (const frame of frames) {
    if (frame.x !== undefined) found.push(`x on op ${frame.op}: ${JSON.stringify(frame)}`)
    if (frame.s !== undefined) sequenced++
  }
  if (sequenced > replayed) found.push(`${sequenced} frames with s, only ${replayed} replayed`)
  return found
}

function typesOf(client: LegacyClient): (string | undefined)[] {
  return client.delivered.map((message) => message.type)
}

async function authenticated(kind: LegacyKind, server: StartedServer, id: string): Promise<LegacyClient> {
  const client = await kind.create(scope, server.url)
  await client.connect()
  await client.authenticate({ id })
  return client
}

/** A raw wire client (v2 or 1.x), terminated after the test. */
async function rawClient(url: string, options: RawClientOptions = {}): Promise<RawClient> {
  return scope.add(await RawClient.connect(url, options), (c) => c.terminate())
}

async function serverFor(options: MesaOptions = {}): Promise<StartedServer> {
  return startServer(scope, options)
}

/** Waits until the server no longer has a socket of `id` and the adapter's presence says it is offline. */
async function offline(server: StartedServer, id: string): Promise<void> {
  await waitFor(`${id} to leave the server`, () => !server.mesa.clients.some((client) => client.userId === id))
  const presence = server.mesa.adapter!.presence
  let online = true
  await waitFor(`${id} to be offline in presence`, () => {
    void presence.areOnline([id]).then(([state]) => {
      online = state === true
    })
    return !online
  })
}

describe.each([crybMesa, mesaJsClient])('$name against this server', (kind) => {
  it('connects, gets a 1.x hello, authenticates with the user object; a refused one is closed with 1008', async () => {
    const server = await serverFor({ heartbeat: { enabled: true, interval: 5000 } })
    const client = await kind.create(scope, server.url)
    await client.connect()
    await waitFor('the hello', () => client.frames.length > 0)
    const hello = client.frames[0]!
    expect(hello).toEqual({
      op: 10,
      d: { c_heartbeat_interval: 5000, c_authentication_timeout: 10_000, rules: ['sends_user_object'] },
    })
    expect(client.rules).toEqual(['sends_user_object'])

    const user = await client.authenticate({ id: 'ada', token: 'secret' })
    expect(user).toEqual({ name: 'user ada' })
    expect(client.frames.at(-1)).toEqual({ op: 22, d: { name: 'user ada' } })
    const [serverSide] = server.mesa.clients
    expect(serverSide).toMatchObject({ userId: 'ada', authenticated: true, protocol: 1 })

    const refused = await kind.create(scope, server.url)
    await refused.connect()
    refused.requestAuthentication({ id: 'reject' })
    await waitFor('the refused client to be closed', () => refused.closes.length > 0)
    expect(refused.closes[0]!.code).toBe(CloseCode.AuthenticationFailed)
    expect(client.open).toBe(true)
    expect(protocol2Fields([...client.frames, ...refused.frames])).toEqual([])
  })

  it('exchanges op 0 messages both ways, before and after authentication', async () => {
    const server = await serverFor()
    const atServer: [string | undefined, unknown, string | undefined][] = []
    server.mesa.on('message', (message, from) => atServer.push([message.type, message.data, from.userId]))
    const client = await kind.create(scope, server.url)
    await client.connect()
    client.send('BEFORE_AUTH', { n: 1 })
    await waitFor('the unauthenticated message', () => atServer.length === 1)
    await client.authenticate({ id: 'ada' })
    client.send('STATUS_UPDATE', { status: 'online' })
    await waitFor('the authenticated message', () => atServer.length === 2)
    expect(atServer).toEqual([
      ['BEFORE_AUTH', { n: 1 }, undefined],
      ['STATUS_UPDATE', { status: 'online' }, 'ada'],
    ])

    const serverSide = server.mesa.clients.find((c) => c.userId === 'ada')!
    await serverSide.send(new Message(0, { via: 'client.send' }, 'DIRECT'))
    await server.mesa.send(new Message(0, { via: 'mesa.send' }, 'TARGETED'), ['ada'])
    await server.mesa.send(new Message(0, { typing: true }, 'TYPING', { sync: false }), ['ada'])
    await waitFor('three messages', () => client.delivered.length === 3)
    expect(client.delivered).toEqual([
      { opcode: 0, data: { via: 'client.send' }, type: 'DIRECT' },
      { opcode: 0, data: { via: 'mesa.send' }, type: 'TARGETED' },
      { opcode: 0, data: { typing: true }, type: 'TYPING' },
    ])
    // 1.x ignores `o`; it is still the 1.x frame.
    expect(client.frames.at(-1)).toEqual({ op: 0, d: { typing: true }, t: 'TYPING', o: { sync: false } })
    expect(server.errors).toEqual([])
  })

  it('answers heartbeats and stays connected over many intervals, while a silent socket is closed', async () => {
    const interval = 100
    const server = await serverFor({ heartbeat: { enabled: true, interval, maxAttempts: 3 } })
    const client = await authenticated(kind, server, 'ada')
    const silent = await rawClient(server.url, { autoAck: false })
    // The control: the same server closes a socket that does not answer.
    expect((await silent.waitClose()).code).toBe(CloseCode.HeartbeatTimeout)
    await waitFor('ten heartbeats', () => client.frames.filter((frame) => frame.op === 1).length >= 10, 10 * interval + 5000)
    expect(client.closes).toEqual([])
    expect(client.open).toBe(true)
    await server.mesa.send(new Message(0, { still: 'here' }, 'ALIVE'), ['ada'])
    await waitFor('a message after the heartbeats', () => typesOf(client).includes('ALIVE'))
    expect(silent.frames.filter((frame) => frame.op === 1).length).toBeGreaterThanOrEqual(3)
    expect(protocol2Fields(client.frames)).toEqual([])
  })

  it('targeted, excluding, everyone and [*] sends reach exactly the right sockets', async () => {
    const server = await serverFor()
    const ada1 = await authenticated(kind, server, 'ada')
    const ada2 = await authenticated(kind, server, 'ada')
    const bob = await authenticated(kind, server, 'bob')
    const cyd = await authenticated(kind, server, 'cyd')
    const anonymous = await kind.create(scope, server.url)
    await anonymous.connect()
    const all = { ada1, ada2, bob, cyd, anonymous }
    const send = (type: string, recipients?: string[], excluding?: string[]) =>
      server.mesa.send(new Message(0, { type }, type), recipients, excluding)

    await send('TO_ADA', ['ada'])
    await send('TO_BOB_CYD', ['bob', 'cyd'])
    await send('TO_NOBODY_ONLINE', ['zed'])
    await send('EVERYONE_BUT_BOB', undefined, ['bob'])
    await send('AUTHENTICATED', ['*'])
    await send('AUTHENTICATED_BUT_ADA', ['*'], ['ada'])
    await send('EVERYONE')
    await server.mesa.clients.find((c) => c.userId === 'cyd')!.send(new Message(0, {}, 'CLIENT_SEND_TO_CYD'))
    await send('FENCE')
    for (const [name, client] of Object.entries(all)) {
      await waitFor(`the fence at ${name}`, () => typesOf(client).includes('FENCE'))
    }
    const got = Object.fromEntries(Object.entries(all).map(([name, client]) => [name, typesOf(client)]))
    const ada = ['TO_ADA', 'EVERYONE_BUT_BOB', 'AUTHENTICATED', 'EVERYONE', 'FENCE']
    expect(got).toEqual({
      ada1: ada,
      ada2: ada,
      bob: ['TO_BOB_CYD', 'AUTHENTICATED', 'AUTHENTICATED_BUT_ADA', 'EVERYONE', 'FENCE'],
      cyd: [
        'TO_BOB_CYD',
        'EVERYONE_BUT_BOB',
        'AUTHENTICATED',
        'AUTHENTICATED_BUT_ADA',
        'EVERYONE',
        'CLIENT_SEND_TO_CYD',
        'FENCE',
      ],
      anonymous: ['EVERYONE_BUT_BOB', 'EVERYONE', 'FENCE'],
    })
    for (const client of Object.values(all)) expect(protocol2Fields(client.frames)).toEqual([])
  })

  it('enforce_equal_versions: the reported version is checked, a different one is closed with 1002', async () => {
    const accepting = await serverFor({ client: { enforceEqualVersions: true, version: kind.version } })
    const versions: unknown[] = []
    accepting.mesa.on('message', (message) => versions.push(message.type))
    const equal = await kind.create(scope, accepting.url)
    await kind.reportingVersion(async () => {
      await equal.connect()
      await waitFor('the hello to be read', () => equal.rules.includes('enforce_equal_versions'))
    })
    await equal.authenticate({ id: 'ada' })
    await accepting.mesa.send(new Message(0, {}, 'WELCOME'), ['ada'])
    await waitFor('a message on the accepted client', () => typesOf(equal).includes('WELCOME'))
    expect(equal.closes).toEqual([])
    // CLIENT_VERSION is the server's business, not an application message.
    expect(versions).toEqual([])

    const refusing = await serverFor({ client: { enforceEqualVersions: true, version: '2' } })
    const different = await kind.create(scope, refusing.url)
    await kind.reportingVersion(async () => {
      await different.connect()
      await waitFor('the mismatching client to be closed', () => different.closes.length > 0)
    })
    expect(different.closes[0]!.code).toBe(CloseCode.ProtocolError)
    expect(different.closes[0]!.reason).toContain(kind.version)
    expect(equal.open).toBe(true)
  })

  it('redelivery the 1.x way: offline messages replayed with their stored numbers, shouldSync false clears them', async () => {
    const server = await serverFor({ sync: { enabled: true, redeliveryInterval: 2 } })
    const send = (n: number, recipients: string[] = ['ada']) =>
      server.mesa.send(new Message(0, { n }, 'NOTE'), recipients)
    const seen = (client: LegacyClient) => client.delivered.map((m) => [m.data.n, m.sequence])

    await send(1)
    await send(2)
    await send(3)
    // A broadcast is not in the user's stream: 1.x never replayed those.
    await server.mesa.send(new Message(0, { n: 0 }, 'NOTE'), ['*'])
    const first = await kind.create(scope, server.url)
    await first.connect()
    await first.authenticate({ id: 'ada' })
    await waitFor('the backlog', () => first.delivered.length === 3)
    await send(4)
    await send(5)
    await waitFor('two live messages', () => first.delivered.length === 5)
    expect(seen(first)).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, undefined],
      [5, undefined],
    ])
    expect(protocol2Fields(first.frames, 3)).toEqual([])
    await first.close()
    await offline(server, 'ada')

    await send(6)
    await send(7)
    const second = await kind.create(scope, server.url)
    await second.connect()
    await second.authenticate({ id: 'ada' }, { shouldSync: true })
    await waitFor('the second backlog', () => second.delivered.length === 2)
    // The numbers the store gave them, not 1..n of this batch; what was delivered live is not replayed.
    expect(seen(second)).toEqual([
      [6, 6],
      [7, 7],
    ])
    await second.close()
    await offline(server, 'ada')

    await send(8)
    await send(9)
    const third = await kind.create(scope, server.url)
    await third.connect()
    await third.authenticate({ id: 'ada' }, { shouldSync: false })
    await send(10)
    await waitFor('the live message', () => third.delivered.length >= 1)
    expect(seen(third)).toEqual([[10, undefined]])
    await third.close()
    await offline(server, 'ada')

    await send(11)
    const fourth = await kind.create(scope, server.url)
    await fourth.connect()
    await fourth.authenticate({ id: 'ada' })
    await waitFor('the backlog after the cleared one', () => fourth.delivered.length >= 1)
    await send(12)
    await waitFor('a live message after it', () => fourth.delivered.length >= 2)
    // 8 and 9 were dropped by shouldSync false; 10 was delivered live.
    expect(seen(fourth)).toEqual([
      [11, 11],
      [12, undefined],
    ])
    for (const client of [second, third]) expect(protocol2Fields(client.frames, client.delivered.length)).toEqual([])
    expect(protocol2Fields(fourth.frames, 1)).toEqual([])
    expect(server.errors).toEqual([])
  })

  it('authentication.required: nothing taken from or broadcast to an unauthenticated 1.x socket, which is closed at the timeout', async () => {
    const server = await serverFor({ authentication: { required: true, timeout: 300 } })
    const atServer: unknown[] = []
    server.mesa.on('message', (message) => atServer.push(message.type))
    const member = await authenticated(kind, server, 'ada')
    const stranger = await kind.create(scope, server.url)
    await stranger.connect()
    stranger.send('IGNORED', {})
    member.send('TAKEN', {})
    await waitFor('the authenticated message', () => atServer.includes('TAKEN'))
    await server.mesa.send(new Message(0, {}, 'EVERYONE'))
    await waitFor('the broadcast at the member', () => typesOf(member).includes('EVERYONE'))
    await waitFor('the stranger to be closed', () => stranger.closes.length > 0)
    expect(stranger.closes[0]!.code).toBe(CloseCode.AuthenticationTimeout)
    expect(typesOf(stranger)).toEqual([])
    expect(atServer).toEqual(['TAKEN'])
    expect(member.closes).toEqual([])
  })

  it('reconnects on its own at the announced interval after an abrupt cut, and authenticates again', async () => {
    const server = await serverFor({ reconnect: { enabled: true, interval: 50 } })
    const client = await authenticated(kind, server, 'ada')
    expect(client.frames[0]!.d.c_reconnect_interval).toBe(50)
    server.mesa.clients[0]!.upgradeRequest.socket.destroy()
    await waitFor('a second hello', () => client.frames.filter((frame) => frame.op === 10).length === 2)
    expect(client.closes).toHaveLength(1)
    // 1.x does not re-authenticate by itself: the application does, as 1.x applications do.
    await client.authenticate({ id: 'ada' })
    await server.mesa.send(new Message(0, {}, 'AFTER_RECONNECT'), ['ada'])
    await waitFor('a message after the reconnect', () => typesOf(client).includes('AFTER_RECONNECT'))
    expect(server.mesa.connectionCount).toBe(1)
    expect(protocol2Fields(client.frames)).toEqual([])
  })

  it('beside a protocol 2 socket of the same server, never gets x or a live s', async () => {
    const server = await serverFor({ sync: { enabled: true }, heartbeat: { enabled: true, interval: 50_000 } })
    const legacy = await authenticated(kind, server, 'old')
    const v2 = await rawClient(server.url, { v2: true })
    await v2.authenticate({ id: 'new' })
    await server.mesa.send(new Message(0, { n: 1 }, 'TARGETED'), ['old', 'new'])
    await server.mesa.send(new Message(0, { n: 2 }, 'AUTHENTICATED'), ['*'])
    await server.mesa.send(new Message(0, { n: 3 }, 'EVERYONE'))
    await server.mesa.send(new Message(0, { n: 4 }, 'NOT_NEW'), undefined, ['new'])
    await server.mesa.send(new Message(0, { n: 5 }, 'UNSYNCED', { sync: false }), ['old', 'new'])
    await waitFor('five messages on the 1.x client', () => legacy.delivered.length === 5)
    await v2.waitForMessages(4)

    // The server does speak protocol 2, to the socket that negotiated it.
    expect(v2.hello).toMatchObject({ op: 10, x: { protocol: 2 } })
    expect(v2.frames.find((frame) => frame.op === 22)?.x).toMatchObject({ recovered: true })
    expect(v2.messages.map((frame) => [frame.d.n, frame.s, frame.x])).toEqual([
      [1, 1, undefined],
      [2, 1, { st: 'g' }],
      [3, 2, { st: 'g' }],
      [5, undefined, undefined],
    ])
    expect(legacy.delivered.map((m) => [m.data.n, m.sequence])).toEqual([
      [1, undefined],
      [2, undefined],
      [3, undefined],
      [4, undefined],
      [5, undefined],
    ])
    expect(protocol2Fields(legacy.frames)).toEqual([])
    const keys = new Set(legacy.frames.flatMap((frame) => Object.keys(frame)))
    expect([...keys].sort()).toEqual(['d', 'o', 'op', 't'])
  })

  it('subscribed to a channel from the server: its publications as plain op 0 frames, and no channel opcode ever', async () => {
    const server = await serverFor({ channels: { rules: { 'room:': { joinLeave: true } } } })
    server.mesa.on('authenticated', (client) => void client.subscribe('room:1'))
    server.mesa.channels.authorize(() => true)
    const legacy = await authenticated(kind, server, 'old')
    await waitFor('the 1.x socket to be subscribed', () => server.mesa.clients.some((c) => c.channels.includes('room:1')))
    const v2 = await rawClient(server.url, { v2: true })
    await v2.authenticate({ id: 'new' })
    expect((await subscribe(v2, 'room:2')).op).toBe(31)
    await waitForChannelFrame(v2, 31, 'room:1')
    await server.mesa.publish('room:1', new Message(0, { n: 1 }, 'CHAT'))
    await server.mesa.publish('room:2', new Message(0, { n: 2 }, 'CHAT'))
    await server.mesa.publish('room:1', new Message(0, { n: 3 }, 'CHAT', { sync: false }))
    await waitFor('two publications on the 1.x client', () => legacy.delivered.length === 2)
    expect(legacy.delivered.map((m) => [m.type, m.data.n, m.sequence])).toEqual([
      ['CHAT', 1, undefined],
      ['CHAT', 3, undefined],
    ])
    // The v2 socket subscribed from the server too gets them with x.ch (and s when stored), and join events.
    expect((await waitForPublications(v2, 'room:1', 2)).map((frame) => [frame.d.n, frame.s])).toEqual([
      [1, 1],
      [3, undefined],
    ])
    server.mesa.clients.find((client) => client.protocol === 1)!.unsubscribe('room:1')
    // The 1.x socket counts in the channel's presence: its leave is announced to the v2 subscriber.
    expect((await waitForChannelFrame(v2, 34, 'room:1', 1)).d).toEqual({ user: 'old', joined: false })
    expect(channelFrames(v2, 34, 'room:1')[0]!.d).toEqual({ user: 'new', joined: true })
    await server.mesa.publish('room:1', new Message(0, { n: 4 }, 'CHAT'))
    await waitForPublications(v2, 'room:1', 3)
    await delay(30)
    expect(legacy.delivered).toHaveLength(2)
    expect(legacy.frames.map((frame) => frame.op).filter((op) => op !== 0 && op !== 1)).toEqual([10, 22])
    expect(protocol2Fields(legacy.frames)).toEqual([])
  })
})

describe('a v2 client and a 1.x client of the same user', () => {
  it('@mesa/client-node and @cryb/mesa sockets of one user both get its messages, each in its protocol', async () => {
    const server = await serverFor({ sync: { enabled: true } })
    const modern = new Client(server.url)
    scope.defer(() => modern.disconnect())
    const modernGot: [unknown, number | undefined][] = []
    modern.on('message', (message) => modernGot.push([message.data.n, message.sequence]))
    await withTimeout('the v2 authentication', modern.authenticate({ id: 'ada' }))
    expect(modern.protocol).toBe(2)
    const legacy = await authenticated(crybMesa, server, 'ada')
    for (let n = 1; n <= 3; n++) await server.mesa.send(new Message(0, { n }, 'NOTE'), ['ada'])
    await waitFor('three messages on both', () => modernGot.length === 3 && legacy.delivered.length === 3)
    expect(modernGot).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ])
    expect(legacy.delivered.map((m) => [m.data.n, m.sequence])).toEqual([
      [1, undefined],
      [2, undefined],
      [3, undefined],
    ])
    expect(protocol2Fields(legacy.frames)).toEqual([])
  })
})
