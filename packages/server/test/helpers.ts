import { authenticatedClient, RawClient, type RawClientOptions, Scope } from '@mesa/test-kit'
import { afterEach } from 'vitest'
import { Mesa, type MesaOptions } from '../src/index.js'

/** Servers and sockets the current test opened: released after it, newest first. */
const scope = new Scope()
afterEach(() => scope.cleanup())

/** A raw wire client (`@mesa/test-kit`'s `RawClient`) on `url`, terminated after the test. */
export async function connect(url: string, options?: RawClientOptions): Promise<RawClient> {
  return scope.add(await RawClient.connect(url, options), (socket) => socket.terminate())
}

/** Starts a server on 127.0.0.1, a free port; closed after the test. */
export async function startServer(options: MesaOptions = {}): Promise<{ mesa: Mesa; url: string }> {
  const mesa = track(new Mesa({ port: 0, host: '127.0.0.1', ...options }))
  await mesa.listening()
  return { mesa, url: `ws://127.0.0.1:${mesa.port}${options.path ?? ''}` }
}

/** Closes this server after the test. */
export function track<S extends { close(): Promise<void> }>(mesa: S): S {
  return scope.add(mesa, (m) => m.close())
}

/** Accepts every authentication: the auth data's `id` becomes the user id, with user object `{ name: id }`. */
export function acceptIds(mesa: Mesa): void {
  mesa.on('connection', (client) => {
    client.authenticate((data, done) => done(null, { id: String(data.id), user: { name: data.id } }))
  })
}

/** A raw client (1.x unless `v2`) authenticated as `id` (on a server that `acceptIds`), terminated after the test. */
export function user(url: string, id: string, v2 = false): Promise<RawClient> {
  return authenticatedClient(scope, url, id, v2)
}
