import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { Client, Message } from '@mesa/client-node'
import Redis from 'ioredis'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt, listeningPort, runProcess, Scope } from '@mesa/test-kit'

const script = fileURLToPath(new URL('../src/gateway.mjs', import.meta.url))

describe('chat on @mesa/gateway (pnpm start)', () => {
  const scope = new Scope()
  afterEach(() => scope.cleanup())

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
    const closed = new Promise<number>((resolve) => client.once('disconnected', (code) => resolve(code)))
    gateway.child.kill('SIGTERM')
    expect(await closed).toBe(1012)
    expect(await gateway.exit).toBe(0)
    expect(gateway.logs.map((line) => line.msg)).toEqual(expect.arrayContaining(['authenticated', 'shutting down', 'gateway closed']))
    expect(gateway.stderr()).toBe('')
  })

  it('with MESA_REDIS_URL, two gateways share rooms: a message said on one reaches a member on the other', async () => {
    const namespace = `chat-gateway-${randomUUID().slice(0, 8)}`
    const redis = new Redis('redis://127.0.0.1:6379')
    scope.defer(async () => {
      for (const pattern of [`mesa:${namespace}:*`, `mesa:{${namespace}}*`, `mesa-chat:${namespace}:*`]) {
        const keys = await redis.keys(pattern)
        if (keys.length > 0) await redis.del(...keys)
      }
      await redis.quit()
    })
    const env = { MESA_NAMESPACE: namespace, MESA_REDIS_URL: 'redis://127.0.0.1:6379' }
    const ports = [await listeningPort(start(env)), await listeningPort(start(env))]

    const join = async (port: number, name: string) => {
      const client = new Client(`ws://127.0.0.1:${port}/ws`)
      scope.defer(() => client.disconnect())
      const said: unknown[] = []
      client.on('message', (message) => {
        if (message.type === 'NEW_MESSAGE') said.push(message.data)
      })
      await client.authenticate({ name })
      const joined = new Promise<void>((resolve) => client.on('message', (m) => m.type === 'ROOM' && resolve()))
      client.send(new Message(0, { room: 'general' }, 'JOIN'))
      await joined
      return { client, said }
    }
    const alice = await join(ports[0]!, 'alice')
    const bob = await join(ports[1]!, 'bob')
    alice.client.send(new Message(0, { room: 'general', text: 'across gateways' }, 'SAY'))
    bob.client.send(new Message(0, { room: 'general', text: 'and back' }, 'SAY'))
    for (const { said } of [alice, bob]) {
      await expect.poll(() => said.length, { timeout: 10_000 }).toBe(2)
      expect(said).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ from: 'alice', text: 'across gateways' }),
          expect.objectContaining({ from: 'bob', text: 'and back' }),
        ]),
      )
    }
  })
})
