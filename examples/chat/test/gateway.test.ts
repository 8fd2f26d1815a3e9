import { fileURLToPath } from 'node:url'
import { Client, Message, type Subscription } from '@mesa/client-node'
import type { Browser } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt, listeningPort, LOCAL_REDIS_URL, LocalNamespaces, nextEvent, runProcess, Scope } from '@mesa/test-kit'
import { launchChromium } from '@mesa/test-kit/browser'
import { converse, deliveries, members, openChat, say, shownTexts } from './chat-pages.js'

const script = fileURLToPath(new URL('../src/gateway.mjs', import.meta.url))

describe('chat on @mesa/gateway (pnpm start)', () => {
  const scope = new Scope()
  const namespaces = new LocalNamespaces('chat-gateway')
  let browser: Browser | undefined
  afterEach(() => scope.cleanup())
  afterAll(async () => {
    await browser?.close()
    await namespaces.deleteKeys()
  })

  beforeAll(() => {
    // `pnpm start` runs the built packages, and the page loads the client's single-file build.
    ensureBuilt(['core', 'server', 'dispatcher', 'redis-adapter', 'gateway', 'client-browser'])
  })

  const start = (env: Record<string, string>) =>
    runProcess(scope, process.execPath, [script], { env: { PATH: process.env.PATH ?? '', MESA_PORT: '0', MESA_HOST: '127.0.0.1', ...env } })

  it('serves the page told the Mesa path, runs the chat, and drains on SIGTERM', async () => {
    const gateway = start({ MESA_PATH: '/realtime', MESA_LOG_LEVEL: 'debug' })
    const port = await listeningPort(gateway)
    const origin = `http://127.0.0.1:${port}`
    const page = await fetch(`${origin}/`)
    expect(page.headers.get('content-type')).toContain('text/html')
    expect(await page.text()).toContain('<meta name="mesa-path" content="/realtime">')
    expect(await (await fetch(`${origin}/mesa.js`)).text()).toContain('WebSocket')

    const client = new Client(`ws://127.0.0.1:${port}/realtime`)
    scope.defer(() => client.disconnect())
    expect(await client.authenticate({ name: 'gina' })).toEqual({ name: 'gina' })
    // The chat's rule reached the gateway's server: its rooms announce who joins.
    const room = client.subscribe('room:general')
    expect((await nextEvent(room, 'presence'))[0]).toEqual({ user: 'gina', joined: true })
    const closed = new Promise<number>((resolve) => client.once('disconnected', (code) => resolve(code)))
    gateway.child.kill('SIGTERM')
    expect(await closed).toBe(1012)
    expect(await gateway.exit).toBe(0)
    expect(gateway.logs.map((line) => line.msg)).toEqual(expect.arrayContaining(['authenticated', 'shutting down', 'gateway closed']))
    expect(gateway.stderr()).toBe('')
  })

  it('refuses what is not the chat: a channel that is no room, a message that is not one, a room it cannot read', async () => {
    const port = await listeningPort(start({}))
    const client = new Client(`ws://127.0.0.1:${port}/ws`)
    scope.defer(() => client.disconnect())
    await client.authenticate({ name: 'hal' })
    const refusal = async (subscription: Subscription) => (await nextEvent(subscription, 'error'))[0].code
    expect(await refusal(client.subscribe('payroll'))).toBe('forbidden')
    expect(await refusal(client.subscribe('room:Not_A_Room'))).toBe('forbidden')
    const rejection = (sending: Promise<unknown>) => sending.then(() => 'accepted', (error: { rejection?: string }) => error.rejection)
    expect(await rejection(client.send(new Message(0, { room: 'general', text: ' ' }, 'SAY'), { ack: true }))).toBe('invalid-text')
    expect(await rejection(client.send(new Message(0, { room: '../etc', text: 'hi' }, 'SAY'), { ack: true }))).toBe('invalid-room')
    expect(await rejection(client.request(new Message(0, { room: 'general', history: true }, 'ROOM')))).toBe('not-joined')
  })

  it('with MESA_REDIS_URL, two gateways share rooms in Chromium: members, messages both ways, offline and back once each in order, a late joiner reads the history, sign-out leaves', async () => {
    const env = { MESA_NAMESPACE: namespaces.next(), MESA_REDIS_URL: LOCAL_REDIS_URL, MESA_HEARTBEAT_INTERVAL: '400' }
    const origins = [await listeningPort(start(env)), await listeningPort(start(env))].map((port) => `http://127.0.0.1:${port}/`)
    browser ??= await launchChromium()
    const open = (origin: string, name: string) => openChat(browser!, scope, origin, name)
    const alice = await open(origins[0]!, 'alice')
    const bob = await open(origins[1]!, 'bob')
    // Presence across gateways: each sees the other join.
    await expect.poll(() => members(alice.page), { timeout: 10_000 }).toBe('Members: alice, bob')
    await expect.poll(() => members(bob.page), { timeout: 10_000 }).toBe('Members: alice, bob')

    await converse(alice, bob, ['from the first gateway', 'from the second'])

    // Bob's network goes; the room goes on without him, and he resumes it from Redis when he is back.
    await bob.context.setOffline(true)
    await bob.page.locator('body[data-mesa-state="reconnecting"]').waitFor({ timeout: 15_000 })
    const missed = ['one', 'two', 'three']
    for (const text of missed) await say(alice.page, text)
    await bob.context.setOffline(false)
    const conversation = ['from the first gateway', 'from the second', ...missed]
    await expect.poll(() => shownTexts(bob.page), { timeout: 15_000 }).toEqual(conversation)
    expect(await deliveries(bob.page)).toEqual(['general:1', 'general:2', 'general:3', 'general:4', 'general:5'])

    // A late joiner on the second gateway reads the room's history (the channel's stream in Redis): shown, not
    // delivered; then what is said next is delivered to it.
    const carol = await open(origins[1]!, 'carol')
    await expect.poll(() => shownTexts(carol.page), { timeout: 10_000 }).toEqual(conversation)
    await expect.poll(() => members(alice.page), { timeout: 10_000 }).toBe('Members: alice, bob, carol')
    await say(alice.page, 'welcome carol')
    await expect.poll(() => shownTexts(carol.page), { timeout: 10_000 }).toEqual([...conversation, 'welcome carol'])
    expect(await deliveries(carol.page)).toEqual(['general:6'])

    // Signing out ends the subscription: the others see carol leave.
    await carol.page.click('#sign-out')
    await expect.poll(() => members(alice.page), { timeout: 10_000 }).toBe('Members: alice, bob')
    await expect.poll(() => members(bob.page), { timeout: 10_000 }).toBe('Members: alice, bob')
  })
})
