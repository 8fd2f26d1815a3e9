import type { Frame } from '@mesa/core'
import { REPO_ROOT, Scope, ScriptedServer, serverFrames, waitFor } from '@mesa/test-kit'
import { build } from 'esbuild'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { browserSite, bundleClient, GLOBAL_PAGE, MODULE_PAGE } from './harness.js'

/**
 * The shipped builds mangle every property whose name starts with `_` (browser-build.mjs). These tests prove that
 * nothing public was among them: every member of `Client`, `Subscription`, the errors and `Message` keeps its name
 * (compared with an unmangled build of the same sources), and every one of them works in Chromium on the module
 * build, against a scripted protocol 2 server.
 */

const { authenticated, subscribed, publication, reply, failure, request } = serverFrames

/**
 * Page-side code (plain JS, served as /api.js). `members(Mesa)` lists, per public class, the names of an
 * instance's properties and of its prototype chain; `window.run(name, ...args)` runs a step of the walk through
 * the API below, each step's results pushed to `window.seen`.
 */
const API_SCRIPT = `
window.members = (M) => {
  const names = (object) => {
    const found = new Set()
    for (let o = object; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
      for (const name of Object.getOwnPropertyNames(o)) found.add(name)
    }
    return [...found].sort()
  }
  const client = new M.Client('ws://127.0.0.1:1', { autoConnect: false })
  return {
    Client: names(client),
    Subscription: names(client.subscribe('room')),
    Message: names(new M.Message(0, {}, 'T')),
    ...Object.fromEntries(
      ['MesaError', 'AuthenticationError', 'ConfigError', 'ConnectionClosedError', 'ProtocolError', 'QueueFullError',
       'RequestError', 'RequestRejection', 'SubscriptionError'].map((name) => [name, names(new M[name]('timeout', 'x', 'y'))]),
    ),
  }
}

window.seen = []
const note = (...values) => window.seen.push(values)
const outcome = (label, promise) =>
  promise.then(
    (value) => note(label, 'ok', value === undefined ? null : value instanceof Mesa.Message ? value.toJSON() : value),
    (error) => note(label, 'error', error.name, error.code, error.message, error instanceof Mesa.MesaError, error instanceof Error),
  )
const EVENTS = ['connected', 'connection', 'authenticated', 'message', 'disconnected', 'stateChange', 'subscription', 'error', 'resync']
const SUBSCRIPTION_EVENTS = ['message', 'subscribed', 'unsubscribed', 'presence', 'error']
const plain = (value) =>
  value instanceof Error ? { name: value.name, code: value.code, closeCode: value.closeCode, mesa: value instanceof Mesa.MesaError }
  : value instanceof Mesa.Message ? value.toJSON()
  : value instanceof Mesa.Subscription ? { channel: value.channel, server: value.server }
  : value
const follow = (emitter, events, prefix) => {
  for (const event of events) emitter.on(event, (...args) => note(prefix + event, ...args.map(plain)))
}

const steps = {
  create(url) {
    const { Client, Message } = Mesa
    const client = (window.client = new Client(url, { autoConnect: false, backoff: { base: 20, max: 40 }, getCredentials: () => ({ fresh: true }) }))
    note('fresh', client.url, client.state, client.protocol, client.queued, client.rules, client.positions, client.subscriptions.size)
    // The emitter's methods, on an event of the client's own.
    let calls = 0
    const listener = () => calls++
    client.on('resync', listener).once('resync', listener)
    note('listeners', client.listenerCount('resync'), client.emit('resync', 'trimmed', {}), calls, client.listenerCount('resync'))
    client.off('resync', listener)
    client.on('resync', listener).removeAllListeners('resync')
    client.on('resync', listener).removeAllListeners()
    note('removed', client.listenerCount('resync'), client.emit('resync', 'trimmed', {}), calls)
    follow(client, EVENTS, '')
    client.send(new Message(0, { early: true }, 'EARLY'))
    note('queued', client.queued)
    outcome('connect', client.connect())
  },
  opened() {
    const { client } = window
    note('open', client.state, client.protocol, client.rules, client.queued)
    outcome('authenticate', client.authenticate({ token: 't' }, { shouldSync: true }))
  },
  channels() {
    const { client } = window
    note('positions', client.positions)
    const sub = (window.sub = client.subscribe('room', { params: { k: 1 }, since: { epoch: 'r', seq: 1 } }))
    note('subscription', sub.channel, sub.params, sub.position, sub.server, client.subscriptions.get('room') === sub, sub instanceof Mesa.Subscription)
    follow(sub, SUBSCRIPTION_EVENTS, 'room:')
  },
  requests() {
    const { client } = window
    const { Message, RequestRejection } = Mesa
    outcome('request', client.request(new Message(0, { id: 1 }, 'GET'), { timeout: 5000 }))
    outcome('refused', client.request(new Message(0, {}, 'SELL')))
    outcome('timeout', client.request(new Message(0, {}, 'SLOW'), { timeout: 30 }))
    outcome('ack', client.send(new Message(0, { n: 1 }, 'ORDER'), { ack: true }))
    client.onRequest('ADD', (message) => ({ sum: message.data.a + message.data.b }))
    client.onRequest('NO', () => {
      throw new RequestRejection('not-now', 'later')
    })
    const remove = client.onRequest(() => new Message(0, { any: true }, 'ANY'))
    window.removeFallback = remove
  },
  serverSubscription() {
    const sub = window.client.subscriptions.get('srv')
    note('server subscription', sub.channel, sub.server, sub.params)
    follow(sub, SUBSCRIPTION_EVENTS, 'srv:')
    outcome('unsubscribe', sub.unsubscribe())
  },
  end() {
    const { client } = window
    window.removeFallback()
    client.reconnectNow()
    note('still', client.state)
    client.disconnect(1000, 'bye')
    note('closed', client.state, client.subscriptions.size)
    outcome('authenticate after disconnect', client.authenticate({}))
  },
  errors(deadUrl) {
    const M = Mesa
    const checks = []
    const made = [
      new M.MesaError('socket-error'),
      new M.AuthenticationError('timeout'),
      new M.ConfigError('invalid x: 1'),
      new M.ConnectionClosedError(),
      new M.ProtocolError('invalid-frame', M.CloseCode.InvalidFrame),
      new M.QueueFullError(3, 'bytes'),
      new M.RequestError('rejected', 'no', 'sold-out'),
      new M.RequestRejection('out-of-stock', 'none left'),
      new M.SubscriptionError('forbidden', 'no'),
    ]
    for (const error of made) {
      checks.push([error.name, error.code, error.message, error instanceof M[error.name], error instanceof M.MesaError, error instanceof Error])
    }
    checks.push(['extras', made[4].closeCode, made[6].rejection, made[7].expose])
    try {
      new M.Client('ws://127.0.0.1:1', { maxPending: -1 })
    } catch (error) {
      checks.push(['thrown', error.name, error.code, error.message, error instanceof M.ConfigError])
    }
    try {
      new M.Client('ws://127.0.0.1:1', { autoConnect: false, maxQueueSize: 0 }).send(new M.Message(0, {}, 'X'))
    } catch (error) {
      checks.push(['thrown', error.name, error.code, error.message, error instanceof M.QueueFullError])
    }
    const dead = new M.Client(deadUrl, { autoConnect: false, reconnect: false })
    dead.on('error', () => {})
    outcome('connect to nothing', dead.connect())
    const message = new M.Message(0, { a: 1 }, 'T', { sync: false }, 4)
    checks.push(['message', message.opcode, message.data, message.type, message.options, message.sequence, message.serialize(), message.toJSON()])
    checks.push(['close codes', M.CloseCode.Normal, M.CloseCode.AuthenticationFailed, M.isTerminalCloseCode(1008), M.isTerminalCloseCode(1000)])
    return checks
  },
}
window.run = (name, ...args) => steps[name](...args)
`

const MEMBER_PAGE = (script: string) =>
  `<!doctype html><meta charset="utf-8"><script type="module">import * as Mesa from '${script}'; window.Mesa = Mesa; window.mesaReady = true</script><script src="/api.js"></script>`

describe('@mesa/client-browser: the public API survives the shipped build (Chromium)', () => {
  const scope = new Scope()
  const { newPage } = browserSite(async () => {
    const [esm, iife, plain] = await Promise.all([bundleClient('esm'), bundleClient('iife'), unmangledBuild()])
    return {
      '/': { type: 'text/html', body: MODULE_PAGE.replace('</title>', '</title><script src="/api.js"></script>') },
      '/global.html': { type: 'text/html', body: GLOBAL_PAGE },
      '/plain.html': { type: 'text/html', body: MEMBER_PAGE('/plain.js') },
      '/mesa.js': { type: 'text/javascript', body: esm },
      '/mesa.global.js': { type: 'text/javascript', body: iife },
      '/plain.js': { type: 'text/javascript', body: plain },
      '/api.js': { type: 'text/javascript', body: API_SCRIPT },
    }
  }, scope)

  /** The same sources bundled without terser: every property under its own name. */
  async function unmangledBuild(): Promise<string> {
    const result = await build({
      absWorkingDir: REPO_ROOT,
      entryPoints: ['packages/client-browser/src/index.ts'],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      tsconfig: 'tsconfig.json',
      write: false,
      logLevel: 'silent',
    })
    return result.outputFiles[0]!.text
  }

  type Members = Record<string, string[]>
  const membersOf = (page: Page) => page.evaluate('window.members(window.Mesa)') as Promise<Members>

  it('keeps the name of every public member in both single-file builds, and mangles only _ names', async () => {
    const { page: plainPage } = await newPage('/plain.html')
    const plain = await membersOf(plainPage)
    expect(plain.Client).toEqual(expect.arrayContaining(['authenticate', 'onRequest', 'subscribe', 'url', 'rules', 'listenerCount']))
    expect(plain.Subscription).toEqual(expect.arrayContaining(['channel', 'params', 'position', 'server', 'unsubscribe', 'emit']))
    for (const path of ['/', '/global.html']) {
      const { page } = await newPage(path)
      if (path !== '/') await page.addScriptTag({ content: API_SCRIPT })
      const shipped = await membersOf(page)
      for (const [name, names] of Object.entries(plain)) {
        const shippedNames = shipped[name]!
        // Every public name is there; each internal (`_`) one became another, shorter name, and nothing else did.
        expect(shippedNames, `${name} in ${path}`).toEqual(expect.arrayContaining(names.filter((n) => !n.startsWith('_'))))
        expect(shippedNames.filter((n) => !names.includes(n)).length, `${name} in ${path}`).toBe(names.filter((n) => n.startsWith('_')).length)
        expect(names.filter((n) => n.startsWith('_') && shippedNames.includes(n)), `${name} in ${path}`).toEqual([])
      }
    }
  })

  it('calls every public member of Client, Subscription, the errors and Message on the module build', async () => {
    const server = await ScriptedServer.start()
    scope.defer(() => server.close())
    const dead = await ScriptedServer.start()
    const deadUrl = dead.url
    await dead.close()
    const { page } = await newPage('/')
    const run = (step: string, ...args: unknown[]) => page.evaluate(([s, a]) => (window as unknown as { run(...x: unknown[]): unknown }).run(s, ...(a as unknown[])), [step, args] as const)
    const seen = () => page.evaluate(() => (window as unknown as { seen: unknown[][] }).seen)
    const find = async (label: string) => {
      await waitFor(label, async () => (await seen()).find((entry) => entry[0] === label))
      return (await seen()).find((entry) => entry[0] === label)!
    }
    const framesOf = (op: number): Frame[] => side.frames.filter((frame) => frame.op === op)

    await run('create', server.url)
    expect(await find('fresh')).toEqual(['fresh', server.url, 'closed', 1, 0, [], {}, 0])
    expect(await find('listeners')).toEqual(['listeners', 2, true, 2, 1])
    expect(await find('removed')).toEqual(['removed', 0, false, 2])
    expect(await find('queued')).toEqual(['queued', 1])
    const side = await server.connection(0)
    expect(await find('connect')).toEqual(['connect', 'ok', null])
    expect((await side.frame(0, 'EARLY')).d).toEqual({ early: true })

    await run('opened')
    expect(await find('open')).toEqual(['open', 'open', 2, ['sends_user_object'], 0])
    expect((await side.frame(2)).d).toEqual({ token: 't', shouldSync: true, fresh: true })
    side.send(authenticated({ name: 'Ada' }, { recovered: true, streams: { user: { epoch: 'e', seq: 1 } } }))
    expect(await find('authenticate')).toEqual(['authenticate', 'ok', { name: 'Ada' }])
    expect(await find('authenticated')).toEqual(['authenticated', { user: { name: 'Ada' }, recovered: true, streams: { user: { epoch: 'e', seq: 1 } } }])
    side.send({ op: 0, d: { hi: 1 }, t: 'HI', s: 2 })
    expect(await find('message')).toEqual(['message', { op: 0, d: { hi: 1 }, t: 'HI', s: 2 }])

    await run('channels')
    expect(await find('positions')).toEqual(['positions', { user: { epoch: 'e', seq: 2 } }])
    expect(await find('subscription')).toEqual(['subscription', 'room', { k: 1 }, { epoch: 'r', seq: 1 }, false, true, true])
    const ask = await side.frame(30)
    expect(ask).toMatchObject({ t: 'room', d: { k: 1 }, x: { since: { epoch: 'r', seq: 1 } } })
    side.send(subscribed('room', { re: ask.x!.id as number, pos: { epoch: 'r', seq: 1 } }))
    side.send(publication('room', 'SAY', { text: 'hi' }, 2))
    side.send({ op: 34, d: { user: 'bob', joined: true }, t: 'room' })
    expect(await find('room:subscribed')).toEqual(['room:subscribed', { recovered: true, position: { epoch: 'r', seq: 1 } }])
    expect(await find('room:message')).toEqual(['room:message', { op: 0, d: { text: 'hi' }, t: 'SAY', s: 2 }])
    expect(await find('room:presence')).toEqual(['room:presence', { user: 'bob', joined: true }])

    await run('requests')
    await waitFor('requests and the acknowledged send', () => framesOf(40).length === 3 && framesOf(0).some((f) => f.t === 'ORDER'))
    const [get, sell] = framesOf(40)
    side.send(reply(get!.x!.id as number, { name: 'Ada' }, 'PROFILE'))
    side.send(failure(sell!.x!.id as number, 'sold-out', 'none left'))
    side.send(reply((await side.frame(0, 'ORDER')).x!.id as number))
    expect(await find('request')).toEqual(['request', 'ok', { op: 0, d: { name: 'Ada' }, t: 'PROFILE' }])
    expect(await find('refused')).toEqual(['refused', 'error', 'RequestError', 'rejected', 'none left', true, true])
    expect(await find('timeout')).toEqual(['timeout', 'error', 'RequestError', 'timeout', 'timeout', true, true])
    expect(await find('ack')).toEqual(['ack', 'ok', null])
    for (const [id, type] of [[7, 'ADD'], [8, 'NO'], [9, 'OTHER']] as const) side.send(request(id, type, { a: 2, b: 5 }))
    await waitFor('three answers', () => framesOf(41).length === 3)
    expect(framesOf(41)).toEqual([
      { op: 41, d: { sum: 7 }, x: { re: 7 } },
      { op: 41, d: {}, x: { re: 8, err: { code: 'not-now', message: 'later' } } },
      { op: 41, d: { any: true }, t: 'ANY', x: { re: 9 } },
    ])

    side.send(subscribed('srv', { srv: true }))
    await waitFor('the server subscription event', async () => (await seen()).some((e) => e[0] === 'subscription' && typeof e[1] === 'object'))
    await run('serverSubscription')
    expect(await find('server subscription')).toEqual(['server subscription', 'srv', true, undefined])
    side.send(reply((await side.frame(32, 'srv')).x!.id as number))
    expect(await find('unsubscribe')).toEqual(['unsubscribe', 'ok', null])
    expect(await find('srv:unsubscribed')).toEqual(['srv:unsubscribed', 'client'])
    side.send({ op: 33, d: {}, t: 'room', x: { reason: 'kicked', code: 'forbidden' } })
    expect(await find('room:error')).toEqual(['room:error', { name: 'SubscriptionError', code: 'forbidden', mesa: true }])
    side.send('not json')
    expect(await find('error')).toEqual(['error', { name: 'ProtocolError', code: 'invalid-frame', closeCode: 4000, mesa: true }])

    await run('end')
    expect(await find('still')).toEqual(['still', 'authenticated'])
    expect(await find('closed')).toEqual(['closed', 'closed', 0])
    expect(await find('disconnected')).toEqual(['disconnected', 1000, 'bye', { willAttemptReconnect: false }])
    expect(await find('authenticate after disconnect')).toEqual(['authenticate after disconnect', 'error', 'AuthenticationError', 'closed', 'closed', true, true])

    const checks = (await run('errors', deadUrl)) as unknown[][]
    expect(checks).toEqual([
      ['MesaError', 'socket-error', 'socket-error', true, true, true],
      ['AuthenticationError', 'timeout', 'timeout', true, true, true],
      ['ConfigError', 'invalid-config', 'invalid x: 1', true, true, true],
      ['ConnectionClosedError', 'connection-closed', 'connection-closed', true, true, true],
      ['ProtocolError', 'invalid-frame', 'invalid-frame', true, true, true],
      ['QueueFullError', 'queue-full', 'queue full: 3 bytes', true, true, true],
      ['RequestError', 'rejected', 'no', true, true, true],
      ['RequestRejection', 'out-of-stock', 'none left', true, true, true],
      ['SubscriptionError', 'forbidden', 'no', true, true, true],
      ['extras', 4000, 'sold-out', true],
      ['thrown', 'ConfigError', 'invalid-config', 'invalid maxPending: -1', true],
      ['thrown', 'QueueFullError', 'queue-full', 'queue full: 0 messages', true],
      ['message', 0, { a: 1 }, 'T', { sync: false }, 4, '{"op":0,"d":{"a":1},"t":"T","s":4,"o":{"sync":false}}', { op: 0, d: { a: 1 }, t: 'T', s: 4, o: { sync: false } }],
      ['close codes', 1000, 1008, true, false],
    ])
    expect(await find('connect to nothing')).toEqual(['connect to nothing', 'error', 'ConnectionClosedError', 'connection-closed', 'connection-closed', true, true])
  })
})
