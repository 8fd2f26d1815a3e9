import { Mesa, type MesaOptions } from '@mesa/server'

/** A frame as it crossed the wire, parsed. */
export interface WireFrame {
  op: number
  d: Record<string, unknown>
  t?: string
  s?: number
  o?: Record<string, unknown>
  x?: Record<string, unknown>
}

/**
 * Resources a test created, released in reverse order by `cleanup()` (called from `afterEach`). A failing
 * release does not stop the others; the first failure is rethrown at the end.
 */
export class Scope {
  private readonly releases: (() => Promise<void> | void)[] = []

  defer(release: () => Promise<void> | void): void {
    this.releases.push(release)
  }

  async cleanup(): Promise<void> {
    let failure: unknown
    for (const release of this.releases.splice(0).reverse()) {
      try {
        await release()
      } catch (error) {
        failure ??= error
      }
    }
    if (failure !== undefined) throw failure
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Polls `check` until it holds; rejects naming `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 5000, intervalMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await delay(intervalMs)
  }
}

/** Rejects naming `what` when `promise` has not settled within `timeoutMs`. */
export async function withTimeout<T>(what: string, promise: Promise<T>, timeoutMs = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
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
