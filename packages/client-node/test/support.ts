import type { Scope } from '../../../test/integration/harness/scope.js'
import { waitFor } from '../../../test/integration/harness/wait.js'
import { Client, type ClientOptions } from '../src/index.js'

/** A client that `scope` disconnects when the test is over. */
export function openClient(scope: Scope, url: string, options?: ClientOptions): Client {
  return scope.add(new Client(url, options), (client) => client.disconnect())
}

/** Polls `check` every 5 ms until it returns a value and resolves with it; rejects naming `what` after `ms`. */
export async function within<T>(what: string, check: () => T | undefined, ms = 5000): Promise<T> {
  let value: T | undefined
  await waitFor(
    what,
    () => {
      value = check()
      return value !== undefined
    },
    ms,
    5,
  )
  return value as T
}
