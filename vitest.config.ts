import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const source = (path: string) => fileURLToPath(new URL(`./packages/${path}`, import.meta.url))
const pkg = (name: string) => source(`${name}/src/index.ts`)
const testKit = (file: string) => source(`test-kit/src/${file}`)

export default defineConfig({
  resolve: {
    // The test kit's subpaths come first: an alias also matches the paths below it.
    alias: {
      '@mesa/test-kit/browser': testKit('browser.ts'),
      '@mesa/test-kit/rpc': testKit('rpc.mjs'),
      '@mesa/test-kit': testKit('index.ts'),
      // Before '@mesa/core', which would otherwise take the subpath as a path under its index.
      '@mesa/core/server': source('core/src/server.ts'),
      '@mesa/core': pkg('core'),
      // Before '@mesa/server', which would otherwise take the subpath as a path under its index.
      '@mesa/server/metrics': source('server/src/metrics.ts'),
      '@mesa/server': pkg('server'),
      '@mesa/client-node': pkg('client-node'),
      '@mesa/client-browser': pkg('client-browser'),
      '@mesa/redis-adapter': pkg('redis-adapter'),
      '@mesa/portal': pkg('portal'),
      '@mesa/dispatcher': pkg('dispatcher'),
      '@mesa/adapter-kit': pkg('adapter-kit'),
      '@mesa/gateway': pkg('gateway'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
})
