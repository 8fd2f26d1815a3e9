import { AdapterError } from '@mesa/core'
import { freePort, Scope } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { RedisAdapter } from '../src/index.js'

// The contract (adapter-contract.test.ts) runs on a standalone Redis, cluster.test.ts on a Cluster.
const scope = new Scope()
afterEach(() => scope.cleanup())

describe('RedisAdapter user channels', () => {
  it('reject with AdapterError when Redis is unreachable', async () => {
    const adapter = scope.add(new RedisAdapter(`redis://127.0.0.1:${await freePort()}`, { namespace: 'unreachable' }), (x) => x.close())
    adapter.on('error', () => {})
    for (const call of [adapter.userChannels.add('c', ['u'], 5), adapter.userChannels.remove('c', ['u']), adapter.userChannels.channelsOf('u')]) {
      await expect(call).rejects.toBeInstanceOf(AdapterError)
      await expect(call).rejects.toThrow(/^Redis user channels: (add|remove|channelsOf) failed: /)
    }
  })
})
