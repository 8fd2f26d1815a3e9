import { execFile, execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server, type Socket, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import {
  type CommandProcess,
  ensureBuilt,
  gatewayPid,
  listeningPort,
  nextEvent,
  RedisServer,
  runProcess,
  Scope,
  waitFor,
} from '@mesa/test-kit'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { API_KEY, callApi, hs256Token, JWT_SECRET, recordingClient } from './support.js'

const run = promisify(execFile)
const packages = fileURLToPath(new URL('../../', import.meta.url))
/** What `@mesa/gateway` needs from this repository; everything else comes from the npm registry. */
const PACKED = ['core', 'server', 'dispatcher', 'redis-adapter', 'gateway']

/**
 * A TCP load balancer in front of gateways: each connection goes to the first that accepts it, as a balancer
 * that has taken a draining gateway out of rotation would send it to the next.
 */
async function loadBalancer(ports: () => readonly number[]): Promise<{ url: string; server: Server; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>()
  const server = createServer((inbound) => {
    sockets.add(inbound)
    inbound.on('close', () => sockets.delete(inbound))
    inbound.on('error', () => {})
    inbound.pause()
    const attempt = (candidates: readonly number[]) => {
      const [port, ...rest] = candidates
      if (port === undefined) return inbound.destroy()
      const outbound = connect(port, '127.0.0.1')
      outbound.once('error', () => (outbound.readyState === 'open' ? inbound.destroy() : attempt(rest)))
      outbound.once('connect', () => {
        sockets.add(outbound)
        outbound.on('close', () => {
          sockets.delete(outbound)
          inbound.destroy()
        })
        inbound.on('close', () => outbound.destroy())
        inbound.pipe(outbound).pipe(inbound)
        inbound.resume()
      })
    }
    attempt(ports())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return { url: `ws://127.0.0.1:${port}/ws`, server, sockets }
}

describe('mesa-gateway from packed tarballs, run with npx', () => {
  const scope = new Scope()
  let project: string

  beforeAll(async () => {
    ensureBuilt(PACKED)
    project = mkdtempSync(join(tmpdir(), 'mesa-gateway-packed-'))
    for (const name of PACKED) {
      execFileSync('pnpm', ['pack', '--pack-destination', project], { cwd: join(packages, name), stdio: 'pipe' })
    }
    const tarballs = Object.fromEntries(
      readdirSync(project).map((file) => [`@mesa/${/^mesa-(.+)-\d+\.\d+\.\d+\.tgz$/.exec(file)![1]}`, `file:./${file}`]),
    )
    // The @mesa packages come from the tarballs, also where one depends on another (never from the registry).
    const overrides = Object.fromEntries(Object.keys(tarballs).map((name) => [name, `$${name}`]))
    writeFileSync(join(project, 'package.json'), JSON.stringify({ private: true, dependencies: tarballs, overrides }))
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: project, timeout: 240_000 })
  }, 300_000)
  afterAll(() => rmSync(project, { recursive: true, force: true }))
  afterEach(() => scope.cleanup())

  /**
   * `npx mesa-gateway` in the project, with only these variables (and PATH, HOME). npm's update notice would
   * print to stderr, which the tests expect empty.
   */
  const gateway = (env: Record<string, string>): CommandProcess =>
    runProcess(scope, 'npx', ['mesa-gateway'], {
      cwd: project,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? project,
        npm_config_update_notifier: 'false',
        MESA_HOST: '127.0.0.1',
        MESA_PORT: '0',
        ...env,
      },
    })
  const curl = async (args: string[]) => JSON.parse((await run('curl', ['-s', ...args])).stdout) as unknown

  it('a JWT client subscribes to the channel its token grants (and is refused another), a curl publish reaches it; a /metrics scrape whose counters moved; API key errors; JSON logs', async () => {
    const metricsToken = 'packed-metrics-token-0123456789'
    const started = gateway({ MESA_JWT_SECRET: JWT_SECRET, MESA_API_KEY: API_KEY, MESA_METRICS_TOKEN: metricsToken, MESA_LOG_LEVEL: 'debug' })
    const url = `http://127.0.0.1:${await listeningPort(started)}`
    /** `mesa_messages_out_total` of a `curl` scrape of /metrics. */
    const messagesOut = async () => {
      const { stdout } = await run('curl', ['-s', '-H', `Authorization: Bearer ${metricsToken}`, `${url}/metrics`])
      const match = /^mesa_messages_out_total\{server="[^"]+"\} (\d+)$/m.exec(stdout)
      if (match === null) throw new Error(`no mesa_messages_out_total in the scrape: ${stdout.slice(0, 500)}`)
      return Number(match[1])
    }
    const ada = recordingClient(scope, `${url.replace('http', 'ws')}/ws`)
    const token = await hs256Token('ada', { name: 'Ada', channels: ['news'] })
    expect(await ada.client.authenticate({ token })).toMatchObject({ sub: 'ada', name: 'Ada' })
    // Channels without code: the token's `channels` claim grants `news`, and nothing else.
    const news = ada.client.subscribe('news')
    await nextEvent(news, 'subscribed')
    const refused = nextEvent(ada.client.subscribe('payroll'), 'error')
    expect((await refused)[0]).toMatchObject({ name: 'SubscriptionError', code: 'forbidden' })

    const publish = (key: string) => [
      `${url}/api/publish`,
      '-H',
      `Authorization: Bearer ${key}`,
      '-H',
      'Content-Type: application/json',
      '-d',
      '{"channel":"news","type":"HEADLINE","data":{"title":"from curl"}}',
    ]
    const outBefore = await messagesOut()
    const publication = nextEvent(news, 'message')
    expect(await curl(publish(API_KEY))).toEqual({ ok: true })
    expect((await publication)[0]).toMatchObject({ type: 'HEADLINE', data: { title: 'from curl' }, sequence: 1 })
    expect(await messagesOut()).toBeGreaterThan(outBefore)
    expect(await curl(publish('wrong-key'))).toEqual({
      error: { code: 'unauthorized', message: 'send the API key as Authorization: Bearer <key>' },
    })
    expect(await curl([`${url}/api/presence`, '-H', 'Content-Type: application/json', '-d', '{}'])).toMatchObject({
      error: { code: 'unauthorized' },
    })
    expect(await curl([`${url}/readyz`])).toEqual({ status: 'ready' })

    process.kill(gatewayPid(started), 'SIGTERM')
    expect(await started.exit).toBe(0)
    expect(started.stderr()).toBe('')
    const messages = started.logs.map((line) => line.msg)
    expect(messages).toEqual(expect.arrayContaining(['gateway listening', 'connection', 'shutting down', 'draining', 'gateway closed']))
    for (const line of started.logs) expect(line).toMatchObject({ level: expect.any(Number), time: expect.any(Number), service: 'mesa-gateway' })
  })

  it('SIGTERM: clients move to a second gateway on the same Redis and get every synced message once, in order', async () => {
    const redis = scope.add(await RedisServer.start(), (server) => server.destroy())
    const env = {
      MESA_REDIS_URL: redis.url,
      MESA_NAMESPACE: 'packed-drain',
      MESA_JWT_SECRET: JWT_SECRET,
      MESA_API_KEY: API_KEY,
      MESA_RECONNECT_INTERVAL: '100',
    }
    const first = gateway(env)
    const second = gateway(env)
    const ports = [await listeningPort(first), await listeningPort(second)]
    const balancer = await loadBalancer(() => ports)
    scope.defer(async () => {
      for (const socket of balancer.sockets) socket.destroy()
      await new Promise<void>((resolve) => balancer.server.close(() => resolve()))
    })

    const users = ['u1', 'u2', 'u3', 'u4']
    const clients = await Promise.all(
      users.map(async (id) => {
        const client = recordingClient(scope, balancer.url, { backoff: { base: 100, max: 500 } })
        await client.client.authenticate({ token: await hs256Token(id) })
        return client
      }),
    )
    // Every client is on the first gateway.
    expect((await fetch(`http://127.0.0.1:${ports[0]}/readyz`)).status).toBe(200)

    // A backend streams numbered messages through the second gateway's API while the first drains.
    const total = 60
    const secondUrl = `http://127.0.0.1:${ports[1]}`
    let sent = 0
    const streaming = (async () => {
      for (let n = 1; n <= total; n++) {
        const answer = await callApi(secondUrl, 'send', { recipients: users, type: 'SEQ', data: { n } })
        expect(answer.status).toBe(200)
        sent = n
        await new Promise((resolve) => setTimeout(resolve, 15))
      }
    })()
    await waitFor('a third of the messages', () => sent >= total / 3)
    process.kill(gatewayPid(first), 'SIGTERM')
    expect(await first.exit).toBe(0)
    await streaming

    for (const [i, client] of clients.entries()) {
      await waitFor(`${users[i]} to get every message`, () => client.messages.length >= total, 20_000)
      expect(client.messages.map((message) => (message.data as { n: number }).n)).toEqual(Array.from({ length: total }, (_, k) => k + 1))
      expect(client.closes[0]).toBe(1012)
    }
    // They are back, on the second gateway.
    expect(await callApi(secondUrl, 'presence', { users })).toMatchObject({ body: { online: { u1: true, u2: true, u3: true, u4: true } } })
    expect(first.logs.map((line) => line.msg)).toEqual(expect.arrayContaining(['draining', 'gateway closed']))
  })

  it('invalid configuration: exit code 1 and one JSON line naming each bad variable', async () => {
    const refused = gateway({ MESA_PORT: 'http', MESA_JWT_SECRET: 'short', MESA_REDIS_URL: 'localhost:6379' })
    expect(await refused.exit).toBe(1)
    expect(refused.logs).toHaveLength(1)
    const [line] = refused.logs
    expect(line).toMatchObject({ level: 50, msg: 'invalid configuration' })
    expect(line!.problems).toEqual([
      'MESA_PORT must be an integer from 0 to 65535, got "http"',
      'MESA_REDIS_URL must be a redis:// or rediss:// URL, got "localhost:6379"',
      'MESA_JWT_SECRET must be a secret of at least 32 bytes, got a value of 5 characters',
    ])
    expect(refused.stderr()).toBe('')

    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    scope.defer(() => new Promise<void>((resolve) => taken.close(() => resolve())))
    const clash = gateway({ MESA_PORT: String((taken.address() as { port: number }).port) })
    expect(await clash.exit).toBe(1)
    expect(clash.logs.at(-1)).toMatchObject({ level: 50, msg: 'gateway failed to start', code: 'EADDRINUSE' })
  })
})
