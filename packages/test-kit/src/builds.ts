import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository's root directory (with a trailing slash). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/** Absolute path of a fixture script of the kit (packages/test-kit/fixtures). */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))
}

/** The latest modification time of any file under `dir` (ms). */
export function newestMtime(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs)
  }
  return newest
}

/** A built file of a package: `packages/<name>/<file>`. */
export interface BuiltFile {
  name: string
  /** Relative to the package. Default `dist/index.js`. */
  file?: string
}

function builtState({ name, file = 'dist/index.js' }: BuiltFile): 'missing' | 'stale' | 'fresh' {
  const dist = join(REPO_ROOT, 'packages', name, file)
  if (!existsSync(dist)) return 'missing'
  return newestMtime(join(REPO_ROOT, 'packages', name, 'src')) > statSync(dist).mtimeMs ? 'stale' : 'fresh'
}

/**
 * For tests whose child processes import the packages' built `dist/`. Fails with what to do when a build is
 * missing, and warns when one is older than its sources (a stale build can make a scenario fail for no
 * visible reason; `pnpm test` always builds first).
 */
export function assertBuilt(packages: readonly string[]): void {
  const missing: string[] = []
  for (const name of packages) {
    const state = builtState({ name })
    if (state === 'missing') missing.push(name)
    else if (state === 'stale') {
      console.warn(`@mesa/${name}: dist is older than src; run \`pnpm build\` for up-to-date multi-process tests`)
    }
  }
  if (missing.length > 0) {
    throw new Error(
      `multi-process tests run the built packages; run \`pnpm build\` first (no dist: ${missing.join(', ')})`,
    )
  }
}

/**
 * Builds the packages whose built file is missing or older than their sources: for tests that serve a built
 * file (the browser client's single-file build) or run packages in child processes on their own. Under
 * `pnpm test` everything is already built and nothing happens.
 */
export function ensureBuilt(packages: readonly BuiltFile[]): void {
  const stale = packages.filter((pkg) => builtState(pkg) !== 'fresh')
  if (stale.length === 0) return
  const filters = stale.flatMap(({ name }) => ['--filter', `@mesa/${name}`])
  execFileSync('pnpm', [...filters, 'build'], { cwd: REPO_ROOT, stdio: 'pipe', timeout: 120_000 })
}
