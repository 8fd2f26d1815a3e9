import { Child } from './child.js'
import { fixture } from './builds.js'
import type { RedisTarget } from './redis-server.js'
import type { Scope } from './scope.js'

export interface ServerProcessOptions {
  namespace: string
  sync?: boolean
  portal?: boolean
  /** The adapter's presence TTL (ms) for crashed servers. Default 15000. */
  presenceTtlMs?: number
  /** Indexes of the servers started with the 1.x shorthand `redis: url` (adapter defaults). Default none. */
  shorthand?: readonly number[]
  /** Allow every client-side channel subscription (an authorize hook that says yes). Default false. */
  channels?: boolean
  /**
   * Handle acknowledged sends of type `ACKED` and requests of type `DOUBLE`, reporting each to the test (`handled`
   * and `request` events; `fixtures/server.mjs` says what they answer). Default false.
   */
  handlers?: boolean
}

/** Starts `count` server processes on `redis`, killed (SIGKILL) when the scope is cleaned up. */
export async function startServers(
  scope: Scope,
  redis: RedisTarget,
  count: number,
  options: ServerProcessOptions,
): Promise<Child[]> {
  const started = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      Child.start(`server-${options.namespace}-${i}`, fixture('server.mjs'), {
        ...redis.connectionEnv,
        NAMESPACE: options.namespace,
        SYNC: options.sync ? '1' : '0',
        PORTAL: options.portal ? '1' : '0',
        PRESENCE_TTL_MS: String(options.presenceTtlMs ?? 15_000),
        SHORTHAND: options.shorthand?.includes(i) ? '1' : '0',
        CHANNELS: options.channels ? '1' : '0',
        HANDLERS: options.handlers ? '1' : '0',
      }),
    ),
  )
  for (const child of started) scope.add(child, (c) => c.kill())
  return started
}

/** ws:// URL of a server process. */
export function urlOf(server: Child): string {
  return `ws://127.0.0.1:${String(server.info.port)}`
}

/** A dispatcher process created from where Redis is (it loads @mesa/redis-adapter lazily). */
export async function startDispatcher(
  scope: Scope,
  redis: RedisTarget,
  options: { namespace: string; sync?: boolean },
): Promise<Child> {
  const child = await Child.start(`dispatcher-${options.namespace}`, fixture('dispatcher.mjs'), {
    ...redis.connectionEnv,
    NAMESPACE: options.namespace,
    SYNC: options.sync ? '1' : '0',
  })
  return scope.add(child, (c) => c.kill())
}

/**
 * A Dispatcher process on a Redis adapter of its own that publishes a numbered sequence to channels, each number
 * stored exactly once whatever fails (`fixtures/publisher.mjs`: `start`, `progress`, `history`).
 */
export async function startPublisher(scope: Scope, redis: RedisTarget, options: { namespace: string }): Promise<Child> {
  const child = await Child.start(`publisher-${options.namespace}`, fixture('publisher.mjs'), {
    ...redis.connectionEnv,
    NAMESPACE: options.namespace,
  })
  return scope.add(child, (c) => c.kill())
}

/**
 * A process of `@mesa/client-node` clients (the build) behind a round-robin balancer over the servers, whose links
 * the test can cut (`fixtures/balanced-client.mjs`): `channel` clients subscribe and record what they get
 * (`fixtures/channel-clients.mjs`), `request` clients make acknowledged sends and requests
 * (`fixtures/request-clients.mjs`).
 */
export async function startClientFleet(scope: Scope, fleet: 'channel' | 'request', name: string): Promise<Child> {
  const child = await Child.start(`${fleet}-clients-${name}`, fixture(`${fleet}-clients.mjs`))
  return scope.add(child, (c) => c.kill())
}

export interface PortalProcessOptions {
  namespace: string
  id?: string
  reportAllEvents?: boolean
  /** Handlers never finish: events stay in flight until the process dies. */
  hold?: boolean
  /** Claim timeout of the portal's own adapter; absent: the portal creates its adapter with the defaults. */
  claimTimeoutMs?: number
}

export async function startPortal(scope: Scope, redis: RedisTarget, options: PortalProcessOptions): Promise<Child> {
  const env: Record<string, string> = {
    ...redis.connectionEnv,
    NAMESPACE: options.namespace,
    REPORT_ALL: options.reportAllEvents ? '1' : '0',
    HOLD: options.hold ? '1' : '0',
  }
  if (options.id !== undefined) env.PORTAL_ID = options.id
  if (options.claimTimeoutMs !== undefined) env.CLAIM_TIMEOUT_MS = String(options.claimTimeoutMs)
  const child = await Child.start(`portal-${options.id ?? options.namespace}`, fixture('portal.mjs'), env)
  return scope.add(child, (c) => c.kill())
}

/** Fails with the children's output when one of them crashed (exited on its own with an error). */
export function expectNoCrash(children: readonly Child[]): void {
  const crashed = children.filter((child) => child.crashed)
  if (crashed.length > 0) {
    const details = crashed.map((c) => `${c.name} (${c.exitStatus}):\n${c.log}`).join('\n\n')
    throw new Error(`child process(es) crashed:\n${details}`)
  }
}
