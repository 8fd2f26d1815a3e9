import { defineConfig } from 'tsup'
import { packageBuild } from '../../tsup.base.js'

// The types only: build.mjs writes the JavaScript (bundled with @mesa/core and minified, see browser-build.mjs).
// The types of the IIFE build (the global `Mesa`) come from its entry, as `mesa.global.d.ts` beside it.
export default defineConfig(
  packageBuild({
    platform: 'browser',
    dts: { only: true, entry: { index: 'src/index.ts', 'mesa.global': 'src/global.ts' } },
  }),
)
