import { defineConfig } from 'tsup'
import { packageBuild } from '../../tsup.base.js'

// `metrics` is its own entry (`@mesa/server/metrics`), so that prom-client loads only for those who import it.
export default defineConfig(packageBuild({ entry: ['src/index.ts', 'src/metrics.ts'] }))
