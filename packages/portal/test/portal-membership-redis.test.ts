import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { RedisAdapter } from '@mesa/redis-adapter'
import { build } from 'esbuild'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Child } from '../../../test/integration/harness/child.js'
import { LOCAL_REDIS_URL, LocalNamespaces } from '../../../test/integration/harness/local-redis.js'
import { RawClient } from '../../../test/integration/harness/raw-client.js'
import { Scope } from '../../../test/integration/harness/scope.js'
import { waitFor } from '../../../test/integration/harness/wait.js'
import { Portal } from '../src/index.js'
import { membershipServer } from './membership-server.js'

const scope = new Scope()
const namespaces = new LocalNamespaces('portal-membership')
afterEach(() => scope.cleanup())
afterAll(() => namespaces.deleteKeys())
const namespace = () => namespaces.next()

function redisAdapter(ns: string, memberTtlMs?: number): RedisAdapter {
  const options = { namespace: ns, ...(memberTtlMs ? { portal: { memberTtlMs } } : {}) }
  const adapter = new RedisAdapter(LOCAL_REDIS_URL, options)
  adapter.on('error', () => {})
  scope.defer(() => adapter.close())
  return adapter
}

/** A real server on its own Redis adapter, recording the membership hooks (see `membershipServer`). */
const server = (ns: string, memberTtlMs?: number) => membershipServer(scope, redisAdapter(ns, memberTtlMs))

const packageDir = fileURLToPath(new URL('../', import.meta.url))
const source = (name: string) => fileURLToPath(new URL(`../../${name}/src/index.ts`, import.meta.url))
let fixture = ''

/**
 * Bundles the portal process with the packages from source; ioredis and debug (CommonJS, which an ESM bundle
 * cannot require) stay external and resolve from the workspace.
 */
beforeAll(async () => {
  const outDir = `${packageDir}node_modules/.cache/mesa-portal-test`
  mkdirSync(outDir, { recursive: true })
  fixture = `${outDir}/member-portal.mjs`
  await build({
    entryPoints: [`${packageDir}test/fixtures/member-portal.ts`],
    outfile: fixture,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['ioredis', 'debug'],
    alias: { '@mesa/core': source('core'), '@mesa/redis-adapter': source('redis-adapter') },
    logLevel: 'error',
  })
})

describe('onPortalJoin / onPortalLeave on Redis', () => {
  it("fire on every server of the namespace with the portal's id when it starts and when it closes", async () => {
    const ns = namespace()
    const one = await server(ns)
    const two = await server(ns)
    const bystander = await server(namespace())
    const alice = await RawClient.connect(one.url, { v2: true })
    scope.defer(() => alice.terminate())
    await alice.authenticate({ id: 'alice' })

    const portal = new Portal(LOCAL_REDIS_URL, { namespace: ns, id: 'billing-portal' })
    portal.on('error', () => {})
    scope.defer(() => portal.close())
    const said: string[] = []
    portal.on('message', (message, userId) => void said.push(`${message.type} ${userId}`))
    await portal.whenReady()
    await waitFor('both servers to see the join', () => one.hooks.length === 1 && two.hooks.length === 1)
    expect(one.hooks).toEqual(['join billing-portal'])
    expect(two.hooks).toEqual(['join billing-portal'])
    // Each server broadcast it from its hook; alice, on server one, gets both over her socket.
    expect((await alice.waitForMessages(2, 'PORTAL_JOINED')).map((frame) => frame.d)).toEqual([
      { id: 'billing-portal' },
      { id: 'billing-portal' },
    ])
    alice.dispatch('SAY', {})
    await waitFor('the portal to get the message', () => said.length === 1)

    await portal.close()
    await waitFor('both servers to see the leave', () => one.hooks.length === 2 && two.hooks.length === 2)
    expect(one.hooks).toEqual(['join billing-portal', 'leave billing-portal'])
    expect(two.hooks).toEqual(one.hooks)
    expect(bystander.hooks).toEqual([])
  })

  it('report a portal already running to a server that starts later', async () => {
    const ns = namespace()
    const portal = new Portal(redisAdapter(ns), { id: 'early' })
    scope.defer(() => portal.close())
    await portal.whenReady()
    const late = await server(ns)
    await waitFor('the join', () => late.hooks.length === 1)
    expect(late.hooks).toEqual(['join early'])
  })

  it('fire onPortalLeave for a portal process killed with SIGKILL once its liveness lapsed', async () => {
    const ns = namespace()
    const ttl = 900
    const { hooks } = await server(ns, ttl)
    const child = scope.add(
      await Child.start('doomed portal', fixture, {
        REDIS_URL: LOCAL_REDIS_URL,
        NAMESPACE: ns,
        MEMBER_TTL_MS: String(ttl),
        PORTAL_ID: 'doomed',
      }),
      (c) => c.kill(),
    )
    await waitFor('the join', () => hooks.length === 1)
    expect(hooks).toEqual(['join doomed'])

    await child.kill('SIGKILL')
    // Expected within the TTL; the deadline is generous because shared machines stall.
    await waitFor('the leave', () => hooks.length === 2, 10_000)
    expect(hooks).toEqual(['join doomed', 'leave doomed'])
  })
})
