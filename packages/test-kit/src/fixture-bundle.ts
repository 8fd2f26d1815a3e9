import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { basename, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { REPO_ROOT } from './builds.js'

/** Inside the kit, so that what a bundle leaves external resolves from the kit's own dependencies. */
const outDir = fileURLToPath(new URL('../node_modules/.cache/mesa-test-kit', import.meta.url))
const bundles = new Map<string, Promise<string>>()

/**
 * Bundles a TypeScript fixture into one ESM file that `node` runs directly, once per test process: the root
 * tsconfig's `paths` resolve `@mesa/*` to the packages' sources (as the tests' aliases do), so a fixture never
 * runs a stale `dist/`; ioredis, ws and debug stay external and resolve from the kit's dependencies (debug is
 * CommonJS, which an ESM bundle cannot require). Resolves with the file.
 */
export function bundleFixture(source: string): Promise<string> {
  let bundle = bundles.get(source)
  if (!bundle) {
    bundle = write(source)
    bundles.set(source, bundle)
  }
  return bundle
}

async function write(source: string): Promise<string> {
  const result = await build({
    absWorkingDir: REPO_ROOT,
    entryPoints: [source],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['ioredis', 'ws', 'debug'],
    tsconfig: 'tsconfig.json',
    // The tsconfig maps it to its declarations, for the type checker; the bundle needs the code.
    alias: { '@mesa/test-kit/rpc': fileURLToPath(new URL('./rpc.mjs', import.meta.url)) },
    logLevel: 'error',
  })
  mkdirSync(outDir, { recursive: true })
  const name = relative(REPO_ROOT, source).replaceAll('/', '-').replace(/\.ts$/, '.mjs')
  const file = `${outDir}/${name}`
  // Written aside and renamed, so that test files bundling the same fixture at once never run a torn file.
  const partial = `${outDir}/.${basename(name)}.${process.pid}`
  writeFileSync(partial, result.outputFiles[0]!.contents)
  renameSync(partial, file)
  return file
}
