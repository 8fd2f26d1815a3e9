import type { Adapter } from '@mesa/core/server'
import { afterEach, beforeEach, describe, it } from 'vitest'
import { channelPresenceContract } from './channel-presence.js'
import { channelRoutingContract } from './channel-routing.js'
import { ContractContext } from './context.js'
import type { ContractTest } from './contract-test.js'
import { deduplicatorContract } from './deduplicator.js'
import type { AdapterContractOptions } from './options.js'
import { portalMembershipContract } from './portal-membership.js'
import { portalQueueContract } from './portal-queue.js'
import { presenceContract } from './presence.js'
import { replicationContract } from './replication.js'
import { storeContract } from './message-store.js'
import { userChannelsContract } from './user-channels.js'

/**
 * Runs the whole adapter contract against an adapter: replication, channel routing, presence, channel presence,
 * message store, portal queue, portal membership, the deduplicator and user channels, each a `describe` of its own
 * (filter with `vitest -t "message store"` while you write one part). Call it at the top level of a test file:
 *
 * ```ts
 * runAdapterContract({ name: 'NatsAdapter', create: (s) => new NatsAdapter(url, { namespace: s.namespace }) })
 * ```
 */
export function runAdapterContract<A extends Adapter>(options: AdapterContractOptions<A>): void {
  describe(`Adapter contract: ${options.name}`, () => {
    let context: ContractContext | undefined
    beforeEach(() => {
      context = new ContractContext(options)
    })
    afterEach(() => context?.cleanup())
    const timeout = 3 * (options.timeoutMs ?? 10_000)
    const test: ContractTest = (name, body, needs = {}) => {
      it.skipIf(needs.sharedBackend === true && options.singleProcess === true)(
        name,
        (testContext) => body(context!, (note) => testContext.skip(note)),
        timeout,
      )
    }
    describe('replication', () => replicationContract(test))
    describe('channel routing', () => channelRoutingContract(test))
    describe('presence', () => presenceContract(test))
    describe('channel presence', () => channelPresenceContract(test))
    describe('message store', () => storeContract(test))
    describe('portal queue', () => portalQueueContract(test))
    describe('portal membership', () => portalMembershipContract(test))
    describe('deduplicator', () => deduplicatorContract(test))
    describe('user channels', () => userChannelsContract(test))
  })
}
