import { RawClient } from './raw-client.js'
import { ResumingClient } from './resuming-client.js'
import type { Scope } from './scope.js'

/** A raw client (v2 unless `v2` is false) on `url`, authenticated as `userId`; terminated with `scope`. */
export async function authenticatedClient(scope: Scope, url: string, userId: string, v2 = true): Promise<RawClient> {
  const client = scope.add(await RawClient.connect(url, { v2 }), (c) => void c.terminate())
  await client.authenticate({ id: userId })
  return client
}

/**
 * A resuming client per user, spread over the servers as a load balancer would: the i-th starts on
 * `urls[i % urls.length]` and fails over to the servers after it. Keyed by user, in the order given; closed
 * with `scope`.
 */
export async function resumingClients(
  scope: Scope,
  urls: readonly string[],
  users: readonly string[],
): Promise<Map<string, ResumingClient>> {
  const clients = new Map<string, ResumingClient>()
  for (const [i, user] of users.entries()) {
    const client = await ResumingClient.connect(urls, i % urls.length, { auth: { id: user } })
    clients.set(user, scope.add(client, (c) => c.close()))
  }
  return clients
}
