import { defineConfig } from 'tsup'
import { packageBuild } from '../../tsup.base.js'

// ES module only: vitest, which the contract runs in, cannot be loaded with require().
export default defineConfig(packageBuild({ format: ['esm'] }))
