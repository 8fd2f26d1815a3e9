import type { Scope } from '@mesa/test-kit'
import { Client, type ClientOptions } from '../src/index.js'

/** A client that `scope` disconnects when the test is over. */
export function openClient(scope: Scope, url: string, options?: ClientOptions): Client {
  return scope.add(new Client(url, options), (client) => client.disconnect())
}
