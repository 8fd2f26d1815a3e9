import { defineConfig } from 'tsup'
import { packageBuild } from '../../tsup.base.js'
import { singleFileBuilds, singleFileOptions } from './single-file-builds.mjs'

export default defineConfig([
  // For bundlers: @mesa/core stays an import so an application that also uses it gets one copy. Runs in
  // parallel with the single-file builds below, which write mesa.* into the same folder.
  // The types of the IIFE build (the global `Mesa`) come from its entry, as `mesa.global.d.ts` beside it.
  packageBuild({
    platform: 'browser',
    clean: ['!mesa.*'],
    shims: false,
    dts: { entry: { index: 'src/index.ts', 'mesa.global': 'src/global.ts' } },
  }),
  // Single files with @mesa/core inlined, for pages without a bundler (see single-file-builds.mjs).
  ...singleFileBuilds.map(({ file, entry, format }) => ({
    entry: { [file.replace(/\.js$/, '')]: entry },
    format: [format],
    // `mesa.global.js` is named in full above: no `.global` suffix added for the IIFE format.
    outExtension: () => ({ js: '.js' }),
    noExternal: ['@mesa/core'],
    platform: singleFileOptions.platform,
    target: singleFileOptions.target,
    minify: singleFileOptions.minify,
    sourcemap: true,
    clean: false,
    dts: false,
    shims: false,
  })),
])
