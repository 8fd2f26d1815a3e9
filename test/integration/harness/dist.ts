import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../../', import.meta.url))

/** Absolute path of a fixture script in test/integration/fixtures. */
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

/**
 * Child processes import the packages' built `dist/`. Fails with what to do when a build is missing, and
 * warns when one is older than its sources (a stale build can make a scenario fail for no visible reason;
 * `pnpm test` always builds first).
 */
export function assertBuilt(packages: readonly string[]): void {
  const missing: string[] = []
  for (const name of packages) {
    const dist = join(root, 'packages', name, 'dist', 'index.js')
    if (!existsSync(dist)) missing.push(name)
    else if (newestMtime(join(root, 'packages', name, 'src')) > statSync(dist).mtimeMs) {
      console.warn(`@mesa/${name}: dist is older than src; run \`pnpm build\` for up-to-date multi-process tests`)
    }
  }
  if (missing.length > 0) {
    throw new Error(
      `multi-process tests run the built packages; run \`pnpm build\` first (no dist: ${missing.join(', ')})`,
    )
  }
}
