import { Mesa, type MesaOptions } from '@mesa/server'
import type { Scope, WireFrame } from '@mesa/test-kit'

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
