import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { Client, Message } from '@mesa/client-node'
import Redis from 'ioredis'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { ensureBuilt, Scope, waitFor } from '@mesa/test-kit'

const main = fileURLToPath(new URL('../src/main.mjs', import.meta.url))

interface LogLine {
  time: string
  level: string
  msg: string
  [field: string]: unknown
}

interface Gateway {
  child: ChildProcess
  /** Every stdout line, parsed: a line that is not a JSON object fails the test. */
  logs: LogLine[]
  stderr: string[]
  exit: Promise<number | null>
}

/** Runs the gateway as `pnpm start` does (`node examples/gateway/src/main.mjs`), with only `env` set. */
function runGateway(env: Record<string, string>, scope: Scope): Gateway {
  const child = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: LogLine[] = []
  const stderr: string[] = []
  let pending = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk
    const lines = pending.split('\n')
    pending = lines.pop()!
    for (const line of lines) logs.push(JSON.parse(line) as LogLine)
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk))
  // 'close', not 'exit': stdout is drained by then, so every log line has been read.
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  scope.defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exit
    }
  })
  return { child, logs, stderr, exit }
}

function nextFrame(ws: WebSocket): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    ws.once('message', (data) => resolve(JSON.parse(String(data))))
    ws.once('close', (code) => reject(new Error(`closed (${code}) before a frame arrived`)))
  })
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)))
}

describe('gateway example', () => {
  const scope = new Scope()
  afterEach(() => scope.cleanup())

  beforeAll(() => {
    // The gateway runs as a child process on the built packages, and serves the client's single-file build.
    ensureBuilt([
      { name: 'core', file: 'dist/index.js' },
      { name: 'server', file: 'dist/index.js' },
      { name: 'client-browser', file: 'dist/mesa.js' },
      { name: 'redis-adapter', file: 'dist/index.js' },
    ])
  })

  it('starts from environment variables, serves the chat page and Mesa, logs JSON, and shuts down on SIGTERM', async () => {
    const gateway = runGateway(
      {
        PORT: '0',
        HOST: '127.0.0.1',
        MESA_PATH: '/realtime',
        NAMESPACE: 'gateway-test',
        HEARTBEAT_INTERVAL: '5000',
        RECONNECT_INTERVAL: '250',
        AUTH_TIMEOUT: '300',
        LOG_LEVEL: 'debug',
      },
      scope,
    )
    const listening = await waitFor('the gateway to listen', () => gateway.logs.find((l) => l.msg === 'gateway listening'))
    expect(listening).toMatchObject({ level: 'info', host: '127.0.0.1', path: '/realtime', namespace: 'gateway-test', adapter: 'memory', chat: true })
    const port = listening.port as number
    const origin = `http://127.0.0.1:${port}`

    const health = await fetch(`${origin}/healthz`)
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({ status: 'ok' })

    const page = await fetch(`${origin}/`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toContain('text/html')
    // The page is told where Mesa listens.
    expect(await page.text()).toContain('<meta name="mesa-path" content="/realtime">')
    const bundle = await fetch(`${origin}/mesa.js`)
    expect(bundle.status).toBe(200)
    expect(await bundle.text()).toContain('WebSocket')
    expect((await fetch(`${origin}/../package.json`)).status).toBe(404)

    // Mesa answers on MESA_PATH with the configured intervals, and negotiates protocol 2.
    const ws = new WebSocket(`ws://127.0.0.1:${port}/realtime`, ['mesa.v2'])
    scope.defer(() => ws.terminate())
    const hello = await nextFrame(ws)
    expect(ws.protocol).toBe('mesa.v2')
    expect(hello).toMatchObject({ op: 10, d: { c_heartbeat_interval: 5000, c_reconnect_interval: 250 } })
    ws.send(JSON.stringify({ op: 2, d: { name: 'gina' } }))
    expect(await nextFrame(ws)).toMatchObject({ op: 22, d: { name: 'gina' } })

    // AUTH_TIMEOUT applies: a socket that never authenticates is closed with 4002.
    const idle = new WebSocket(`ws://127.0.0.1:${port}/realtime`)
    scope.defer(() => idle.terminate())
    expect(await closed(idle)).toBe(4002)

    const goingAway = closed(ws)
    gateway.child.kill('SIGTERM')
    expect(await goingAway).toBe(1001)
    expect(await gateway.exit).toBe(0)
    expect(gateway.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['authenticated', 'shutting down', 'gateway closed']))
    for (const line of gateway.logs) {
      expect(Number.isNaN(Date.parse(line.time))).toBe(false)
      expect(['debug', 'info', 'warn', 'error']).toContain(line.level)
    }
    expect(gateway.stderr.join('')).toBe('')
  })

  it('with REDIS_URL, two gateways share rooms and replicate: a message said on one reaches a member on the other', async () => {
    const namespace = `gateway-test-${randomUUID().slice(0, 8)}`
    const redis = new Redis('redis://127.0.0.1:6379')
    scope.defer(async () => {
      // Everything both gateways stored: the adapter's keys and the chat's rooms.
      for (const pattern of [`mesa:${namespace}:*`, `mesa:{${namespace}}*`, `mesa-chat:${namespace}:*`]) {
        const keys = await redis.keys(pattern)
        if (keys.length > 0) await redis.del(...keys)
      }
      await redis.quit()
    })
    const env = { PORT: '0', HOST: '127.0.0.1', NAMESPACE: namespace, REDIS_URL: 'redis://127.0.0.1:6379' }
    const ports: number[] = []
    for (const gateway of [runGateway(env, scope), runGateway(env, scope)]) {
      scope.defer(async () => {
        gateway.child.kill('SIGTERM')
        expect(await gateway.exit).toBe(0)
      })
      const listening = await waitFor('a gateway to listen', () => gateway.logs.find((l) => l.msg === 'gateway listening'))
      expect(listening).toMatchObject({ adapter: 'redis', namespace })
      ports.push(listening.port as number)
    }

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
    for (const member of [alice, bob]) {
      await expect.poll(() => member.said.length, { timeout: 10_000 }).toBe(2)
      expect(member.said).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ from: 'alice', text: 'across gateways', room: 'general' }),
          expect.objectContaining({ from: 'bob', text: 'and back', room: 'general' }),
        ]),
      )
    }
  })

  it('refuses to start with invalid variables, naming each in one JSON log line', async () => {
    const gateway = runGateway({ PORT: 'http', HEARTBEAT_ENABLED: 'sometimes' }, scope)
    expect(await gateway.exit).toBe(1)
    expect(gateway.logs).toHaveLength(1)
    const [line] = gateway.logs
    expect(line).toMatchObject({ level: 'error', msg: 'invalid configuration' })
    const problems = line!.problems as string[]
    expect(problems).toHaveLength(2)
    expect(problems[0]).toMatch(/^PORT /)
    expect(problems[1]).toMatch(/^HEARTBEAT_ENABLED /)
  })
})
