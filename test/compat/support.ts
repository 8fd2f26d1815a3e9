import { Mesa, type MesaOptions } from '@mesa/server'
import type { Scope } from '../integration/harness/scope.js'
import { waitFor as poll, withTimeout as settleWithin } from '../integration/harness/wait.js'

export { Scope } from '../integration/harness/scope.js'

/** A frame as it crossed the wire, parsed. */
export interface WireFrame {
  op: number
  d: Record<string, unknown>
  t?: string
  s?: number
  o?: Record<string, unknown>
  x?: Record<string, unknown>
}

/** The compat and chaos tests fail fast: a broken server fails them at their first wait, not at the test timeout. */
const WAIT_MS = 5000

/** Polls `check` until it holds; rejects naming `what` after `timeoutMs`. */
export function waitFor(what: string, check: () => boolean, timeoutMs = WAIT_MS, intervalMs = 5): Promise<void> {
  return poll(what, check, timeoutMs, intervalMs)
}

/** Rejects naming `what` when `promise` has not settled within `timeoutMs`. */
export function withTimeout<T>(what: string, promise: Promise<T>, timeoutMs = WAIT_MS): Promise<T> {
  return settleWithin(what, promise, timeoutMs)
}

export interface TestUser {
  name: string
}

export interface StartedServer {
  mesa: Mesa<Record<string, Record<string, unknown>>, Record<string, Record<string, unknown>>, TestUser>
  url: string
  /** Everything the server reported through `error`. */
  errors: Error[]
}

/**
 * A server on 127.0.0.1 and a free port whose clients authenticate with `{ id }` as user `id` (user object
 * `{ name: 'user <id>' }`); `{ id: 'reject' }` fails. Closed by `scope`.
 */
export async function startServer(scope: Scope, options: MesaOptions = {}): Promise<StartedServer> {
  const mesa = new Mesa<Record<string, Record<string, unknown>>, Record<string, Record<string, unknown>>, TestUser>({
    port: 0,
    host: '127.0.0.1',
    ...options,
  })
  const errors: Error[] = []
  mesa.on('error', (error) => errors.push(error))
  mesa.on('connection', (client) =>
    client.authenticate((data, done) => {
      if (data.id === 'reject') done(new Error('rejected by the test'))
      else done(null, { id: String(data.id), user: { name: `user ${String(data.id)}` } })
    }),
  )
  scope.defer(() => mesa.close())
  await mesa.listening()
  return { mesa, url: `ws://127.0.0.1:${mesa.port}`, errors }
}

/** Parses a raw text frame; anything else is a test failure. */
export function parseWire(data: unknown): WireFrame {
  const text = typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.toString('utf8') : String(data)
  return JSON.parse(text) as WireFrame
}
