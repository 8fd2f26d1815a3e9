import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stalePackages } from '../../../scripts/build-changed.mjs'

/** The repository's root directory (with a trailing slash). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/** Absolute path of a fixture script of the kit (packages/test-kit/fixtures). */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))
}

/**
 * Which of `packages` (folder names under packages/: `core`, `server`) have a build older than what it is built
 * from, or are missing one of the files their manifest declares: `scripts/build-changed.mjs` decides, as for
 * `pnpm start` and the packaging check.
 */
function staleOf(packages: readonly string[]): string[] {
  const stale = new Set(stalePackages())
  return packages.filter((name) => stale.has(`@mesa/${name}`))
}

/**
 * For tests whose child processes import the packages' built `dist/`. Fails with what to do when a build is
 * missing, and warns when one is older than its sources (a stale build can make a scenario fail for no
 * visible reason; `pnpm test` always builds first).
 */
export function assertBuilt(packages: readonly string[]): void {
  const missing = packages.filter((name) => !existsSync(join(REPO_ROOT, 'packages', name, 'dist', 'index.js')))
  if (missing.length > 0) {
    throw new Error(
      `multi-process tests run the built packages; run \`pnpm build\` first (no dist: ${missing.join(', ')})`,
    )
  }
  for (const name of staleOf(packages)) {
    console.warn(`@mesa/${name}: dist is older than src; run \`pnpm build\` for up-to-date multi-process tests`)
  }
}

/**
 * Builds those of `packages` whose build is missing or stale: for tests that serve a built file (the browser
 * client's single-file build) or run packages in child processes on their own. Under `pnpm test` everything is
 * already built and nothing happens. Only the packages named are built, never the others a test file running
 * meanwhile may be loading.
 */
export function ensureBuilt(packages: readonly string[]): void {
  const stale = staleOf(packages)
  if (stale.length === 0) return
  const filters = stale.flatMap((name) => ['--filter', `@mesa/${name}`])
  execFileSync('pnpm', [...filters, 'build'], { cwd: REPO_ROOT, stdio: 'pipe', timeout: 120_000 })
}
