import { defineConfig } from 'tsup'
import { packageBuild } from '../../tsup.base.js'

// Platform-neutral: core runs in browsers as well as in Node. Two entries, `@mesa/core` and `@mesa/core/server`,
// whose shared modules go into shared chunks in both formats (`splitting`, which tsup otherwise does for ESM
// only): a class both entries use is then one class, and `instanceof` holds across them.
export default defineConfig(
  packageBuild({ entry: ['src/index.ts', 'src/server.ts'], platform: 'neutral', shims: false, splitting: true, treeshake: true }),
)
