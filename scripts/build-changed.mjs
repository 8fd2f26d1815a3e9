#!/usr/bin/env node
// Builds only the packages whose build is missing or older than their sources, and quietly: `pnpm start` and
// the packaging test run it, so that they start in a second when nothing changed. `pnpm build` builds
// everything. The build's output is shown only when it fails.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const workspaceRoot = fileURLToPath(new URL('..', import.meta.url))

/** What every package's build reads besides its own folder (tsup.config.ts imports the first). */
const SHARED_INPUTS = ['tsup.base.ts', 'tsconfig.base.json']

/** Folders of a package that its build does not read. */
const NOT_INPUTS = new Set(['dist', 'node_modules', 'test'])

/** The workspace's packages that have a build: `{ name, dir, manifest }`. */
export function buildablePackages(root = workspaceRoot) {
  const packagesDir = join(root, 'packages')
  return readdirSync(packagesDir)
    .map((entry) => join(packagesDir, entry))
    .filter((dir) => existsSync(join(dir, 'package.json')))
    .map((dir) => {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
      return { name: manifest.name, dir, manifest }
    })
    .filter(({ manifest }) => typeof manifest.scripts?.build === 'string')
}

/** The latest modification time (ms) of the files under `path` that a build reads. */
function newestInput(path) {
  const stat = statSync(path)
  if (!stat.isDirectory()) return path.endsWith('.md') ? 0 : stat.mtimeMs
  let newest = 0
  for (const entry of readdirSync(path)) {
    if (!NOT_INPUTS.has(entry)) newest = Math.max(newest, newestInput(join(path, entry)))
  }
  return newest
}

/** Every `./dist/…` file the manifest names (entry points, types, exports, bin): what a build must produce. */
function declaredOutputs(manifest) {
  const found = new Set()
  const collect = (value) => {
    if (typeof value === 'string') {
      if (value.startsWith('./dist/') || value.startsWith('dist/')) found.add(value)
    } else if (value !== null && typeof value === 'object') {
      for (const nested of Object.values(value)) collect(nested)
    }
  }
  for (const field of ['main', 'module', 'types', 'exports', 'bin']) collect(manifest[field])
  return [...found]
}

/** The folders of the workspace packages `manifest` depends on (`workspace:` dependencies). */
function workspaceDependencies(manifest, packages) {
  return Object.entries(manifest.dependencies ?? {})
    .filter(([, version]) => String(version).startsWith('workspace:'))
    .map(([name]) => packages.find((pkg) => pkg.name === name)?.dir)
    .filter((dir) => dir !== undefined)
}

/**
 * Whether the package's build is missing a declared output or older than one of its inputs: its own files, the
 * shared build settings, and the workspace packages it depends on (a build may inline one, as the browser
 * client's does with core).
 */
function isStale({ dir, manifest }, root, packages) {
  const outputs = declaredOutputs(manifest).map((output) => join(dir, output))
  if (outputs.length === 0 || !outputs.every((output) => existsSync(output))) return true
  const oldestOutput = Math.min(...outputs.map((output) => statSync(output).mtimeMs))
  const newestShared = Math.max(...SHARED_INPUTS.map((file) => newestInput(join(root, file))))
  const inputs = [dir, ...workspaceDependencies(manifest, packages)]
  return Math.max(newestShared, ...inputs.map((input) => newestInput(input))) > oldestOutput
}

/** Names of the packages that need a build. */
export function stalePackages(root = workspaceRoot) {
  const packages = buildablePackages(root)
  return packages.filter((pkg) => isStale(pkg, root, packages)).map(({ name }) => name)
}

/**
 * Builds the stale packages (dependencies first, as `pnpm --filter` orders them). Returns their names; throws
 * with the build's output when it fails.
 */
export function buildChanged({ root = workspaceRoot, log = () => {} } = {}) {
  const stale = stalePackages(root)
  if (stale.length === 0) return stale
  log(`building ${stale.join(', ')} (sources changed since the last build)`)
  const filters = stale.flatMap((name) => ['--filter', name])
  const result = spawnSync('pnpm', [...filters, 'run', 'build'], { cwd: root, encoding: 'utf8' })
  if (result.status !== 0) {
    throw new Error(`building ${stale.join(', ')} failed:\n${result.stdout}${result.stderr}`)
  }
  return stale
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    buildChanged({ log: (line) => console.log(line) })
  } catch (error) {
    console.error(error.message)
    process.exit(1)
  }
}
