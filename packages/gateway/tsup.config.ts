import { defineConfig } from 'tsup'
import { packageBuild } from '../../tsup.base.js'

// The library and the `mesa-gateway` command (dist/cli.js, kept executable by its hashbang).
export default defineConfig(packageBuild({ entry: ['src/index.ts', 'src/cli.ts'] }))
