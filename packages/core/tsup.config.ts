import { defineConfig } from 'tsup'
import { packageBuild } from '../../tsup.base.js'

// Platform-neutral: core runs in browsers as well as in Node.
export default defineConfig(packageBuild({ platform: 'neutral', shims: false }))
