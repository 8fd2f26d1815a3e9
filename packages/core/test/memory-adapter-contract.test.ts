import { runAdapterContract } from '@mesa/adapter-kit'
import { MemoryAdapter } from '../src/server.js'

runAdapterContract({
  name: 'MemoryAdapter',
  create: ({ namespace, retention, portal, now }) =>
    new MemoryAdapter({ namespace, retention, portal: { ...portal, retryDelayMs: 10 }, now }),
  singleProcess: true,
  clock: 'injected',
})
