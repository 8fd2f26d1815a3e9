import { runAdapterContract } from '@mesa/adapter-kit'
import { LOCAL_REDIS_URL, LocalNamespaces } from '@mesa/test-kit'
import { RedisAdapter } from '../src/index.js'

const namespaces = new LocalNamespaces('contract')

runAdapterContract({
  name: 'RedisAdapter',
  // Polls fast, so that redelivery and reclaims happen within the kit's waits.
  create: ({ namespace, retention, portal }) =>
    new RedisAdapter(LOCAL_REDIS_URL, { namespace, retention, portal: { ...portal, claimIntervalMs: 20, blockMs: 100 } }),
  namespace: () => namespaces.next(),
  cleanup: () => namespaces.deleteKeys(),
})
