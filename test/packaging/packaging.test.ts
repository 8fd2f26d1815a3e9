// The packages as a user installs them (issue 10). Every publishable package is packed with `pnpm pack`
// (which rewrites `workspace:` ranges), and the tarballs are installed with npm, with their dependencies from
// the registry, into a fresh project under the system's temporary folder, outside the workspace. That project
// then imports and requires each package, type-checks an application against them, bundles a page with Vite,
// runs the server's `redis` shorthand, a Portal and a Dispatcher as an ES module app and as a CommonJS app;
// publint and arethetypeswrong check each tarball. The repository's other tests import sources, so none of
// them sees what a tarball lacks.
import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LOCAL_REDIS_URL, LocalNamespaces } from '@mesa/test-kit'
import { type BuildablePackage, buildablePackages, stalePackages } from '../../scripts/build-changed.mjs'

const root = fileURLToPath(new URL('../../', import.meta.url))
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url))

/** Every package a user can install: whatever packages/* holds that is not private. */
const publishable = buildablePackages().filter(({ manifest }) => manifest.private !== true)

/** One way into a package for code: its main entry or a subpath (`@mesa/core/server`), with its module formats. */
interface EntryPoint {
  specifier: string
  esm: boolean
  cjs: boolean
}

/**
 * Entry points that need an optional peer dependency the project does not install, and which it therefore leaves
 * out of its loading and type checks.
 */
const NEEDS_OPTIONAL_PEER: Record<string, string> = {
  '@mesa/server/metrics': 'prom-client',
}

/**
 * The entry points of a package and the module formats of each, from the conditions of its `exports`. Subpaths
 * without `import` or `require` conditions (the browser client's single files, for pages) are not for code.
 */
function entryPointsOf({ name, manifest }: BuildablePackage): EntryPoint[] {
  const exports = (manifest.exports ?? {}) as Record<string, unknown>
  return Object.entries(exports).flatMap(([path, entry]) => {
    const specifier = path === '.' ? name : `${name}${path.slice(1)}`
    if (path === './package.json' || NEEDS_OPTIONAL_PEER[specifier]) return []
    if (typeof entry !== 'object' || entry === null) {
      return path === '.' ? [{ specifier, esm: typeof entry === 'string', cjs: false }] : []
    }
    if (path !== '.' && !('import' in entry || 'require' in entry)) return []
    return [{ specifier, esm: 'import' in entry || 'default' in entry, cjs: 'require' in entry }]
  })
}

const entryPoints = publishable.flatMap(entryPointsOf)

/**
 * Rules of arethetypeswrong a package may not meet, and why. `@mesa/client-browser`: its single-file builds
 * (`./mesa.js`, `./mesa.global.js`) are ES modules for pages; `require()` of them works on the Node versions
 * the packages support (20.19+ loads ES modules with `require`), which the TypeScript inside attw predates.
 * `@mesa/adapter-kit`: an ES module only, as vitest, whose suites it declares, cannot be loaded with `require()`.
 */
const ATTW_EXCEPTIONS: Record<string, string[]> = {
  '@mesa/client-browser': ['cjs-resolves-to-esm'],
  '@mesa/adapter-kit': ['cjs-resolves-to-esm'],
}

interface Run {
  stdout: string
  stderr: string
}

/** Runs a command to its end; rejects with everything it printed when it exits non-zero. */
function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { ...options, env: { ...process.env, ...options.env }, maxBuffer: 16 * 1024 * 1024, timeout: 120_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${basename(command)} ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`))
        else resolve({ stdout, stderr })
      },
    )
  })
}

/** Runs one of the workspace's own tools (tsc, vite, publint, attw) in `cwd`. */
function runTool(name: string, args: string[], cwd: string): Promise<Run> {
  return run(join(root, 'node_modules', '.bin', name), args, { cwd })
}

interface Packed {
  name: string
  dir: string
  /** Absolute path of the tarball. */
  tarball: string
  /** Paths of the files in it, relative to the package. */
  files: string[]
}

let project: string
const packed = new Map<string, Packed>()
const namespaces = new LocalNamespaces('packaging')

beforeAll(async () => {
  // `pnpm test` has just built everything. Building here instead would rewrite dist/ under the other test files
  // that run meanwhile.
  const stale = stalePackages()
  if (stale.length > 0) {
    throw new Error(`the tarballs hold the builds; run \`pnpm build\` first (stale or missing: ${stale.join(', ')})`)
  }
  project = mkdtempSync(join(tmpdir(), 'mesa-packaging-'))
  const tarballs = join(project, 'tarballs')
  mkdirSync(tarballs)
  for (const pkg of publishable) {
    const { stdout } = await run('pnpm', ['pack', '--pack-destination', tarballs, '--json'], { cwd: pkg.dir })
    const { filename, files } = JSON.parse(stdout) as { filename: string; files: { path: string }[] }
    packed.set(pkg.name, { name: pkg.name, dir: pkg.dir, tarball: filename, files: files.map(({ path }) => path) })
  }
  cpSync(fixtures, project, { recursive: true })
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'mesa-packaging-check', private: true }))
  const specs = [...packed.values()].map(({ tarball }) => `./${relative(project, tarball)}`)
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...specs], { cwd: project })
}, 180_000)

afterAll(async () => {
  if (project) rmSync(project, { recursive: true, force: true })
  await namespaces.deleteKeys()
})

// Type-checking with skipLibCheck off and attw take seconds each; a loaded machine stretches them.
describe('the packages as installed from their tarballs', { timeout: 120_000 }, () => {
  it('finds the packages to check', () => {
    expect(publishable.map(({ name }) => name)).toEqual(expect.arrayContaining(['@mesa/core', '@mesa/server']))
  })

  it.each(publishable.map(({ name }) => name))('%s: has its LICENSE, README and metadata', (name) => {
    const { files, dir } = packed.get(name)!
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json']))
    const installed = join(project, 'node_modules', name)
    expect(readFileSync(join(installed, 'LICENSE'), 'utf8')).toBe(readFileSync(join(root, 'LICENSE'), 'utf8'))
    const manifestText = readFileSync(join(installed, 'package.json'), 'utf8')
    expect(manifestText).not.toContain('workspace:')
    const manifest = JSON.parse(manifestText)
    const workspace = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
    expect(manifest.license).toBe('MIT')
    expect(manifest.repository).toEqual({ ...workspace.repository, directory: relative(root, dir) })
    expect(manifest.bugs).toEqual(workspace.bugs)
    expect(manifest.homepage).toBe(workspace.homepage.replace('#readme', `/tree/main/${relative(root, dir)}#readme`))
    expect(manifest.keywords).toEqual(expect.arrayContaining(['mesa']))
    expect(manifest.engines).toEqual(workspace.engines)
  })

  it('loads each entry point with import and require, with the same exports', async () => {
    const formats = Object.fromEntries(entryPoints.map(({ specifier, esm, cjs }) => [specifier, { esm, cjs }]))
    const { stdout } = await run(process.execPath, ['load-each.mjs', JSON.stringify(formats)], { cwd: project })
    expect(stdout.trim().split('\n')).toHaveLength(entryPoints.length)
    expect(stdout).toContain('@mesa/core/server: import and require')
  })

  it("shares one copy of core's classes between @mesa/core and @mesa/core/server, imported and required", async () => {
    const { stdout } = await run(process.execPath, ['core-entries.mjs'], { cwd: project })
    expect(stdout.trim().split('\n')).toEqual(["esm: one copy of core's classes", "cjs: one copy of core's classes"])
  })

  /** Imports of every entry point (so that each one's types are checked), for ES module or CommonJS files. */
  function importEveryEntry(format: 'esm' | 'cjs'): string {
    return entryPoints
      .filter((entry) => entry[format])
      .map(({ specifier }, index) => `import * as entry${index} from '${specifier}'\n`)
      .join('')
  }

  /** Type-checks `files` (written into the project) with the workspace's TypeScript and `compilerOptions`. */
  async function typecheck(config: string, compilerOptions: object, files: Record<string, string>): Promise<void> {
    for (const [file, text] of Object.entries(files)) writeFileSync(join(project, file), text)
    const tsconfig = {
      compilerOptions: { target: 'es2022', strict: true, skipLibCheck: false, noEmit: true, ...compilerOptions },
      files: Object.keys(files),
    }
    writeFileSync(join(project, config), JSON.stringify(tsconfig))
    await runTool('tsc', ['-p', config], project)
  }

  const fixture = (name: string) => readFileSync(join(fixtures, name), 'utf8')

  // Node16 resolution checks the application as ES module (.mts) and as CommonJS (.cts) files; the browser
  // client's single-file builds are ES modules, for ES module files only.
  it.each([
    { moduleResolution: 'node16', module: 'node16', esm: '.mts', cjs: '.cts' },
    { moduleResolution: 'bundler', module: 'esnext', esm: '.ts', cjs: undefined },
  ])('type-checks an application with $moduleResolution resolution, skipLibCheck off', async (mode) => {
    const { moduleResolution, module, esm, cjs } = mode
    const files: Record<string, string> = {
      [`consumer${esm}`]: fixture('consumer.ts'),
      [`browser-builds${esm}`]: fixture('browser-builds.ts'),
      [`every-package${esm}`]: importEveryEntry('esm'),
    }
    if (cjs) Object.assign(files, { [`consumer${cjs}`]: fixture('consumer.ts'), [`every-package${cjs}`]: importEveryEntry('cjs') })
    await typecheck(`tsconfig.${moduleResolution}.json`, { module, moduleResolution }, files)
  })

  it('bundles a page using the browser client with Vite', async () => {
    const web = join(project, 'web')
    await runTool('vite', ['build', '--logLevel', 'error'], web)
    const assets = join(web, 'dist', 'assets')
    const scripts = readdirSync(assets).filter((file) => file.endsWith('.js'))
    expect(scripts).toHaveLength(1)
    const code = readFileSync(join(assets, scripts[0]!), 'utf8')
    expect(code).toContain('WebSocket')
    expect(code).not.toMatch(/\brequire\s*\(|["']node:/)
    expect(readFileSync(join(web, 'dist', 'index.html'), 'utf8')).toContain(`/assets/${scripts[0]}`)
  })

  it.each([
    ['an ES module', 'redis-shorthand.mjs', []],
    ['a CommonJS', 'redis-shorthand.cjs', ['--import', './esm-loads.mjs']],
  ])('gives %s app one copy of each package with the redis shorthand, Portal and Dispatcher', async (_, app, flags) => {
    const env = { REDIS_URL: LOCAL_REDIS_URL, NAMESPACE: namespaces.next() }
    const { stdout } = await run(process.execPath, [...flags, app], { cwd: project, env })
    expect(stdout).toContain('one copy of each package')
  })

  it.each(publishable.map(({ name }) => name))('%s: publint --strict finds nothing', async (name) => {
    const { stdout } = await runTool('publint', ['run', packed.get(name)!.tarball, '--strict'], project)
    expect(stdout).toContain('All good!')
  })

  it.each(publishable.map(({ name }) => name))('%s: arethetypeswrong finds no problem', async (name) => {
    const ignored = ATTW_EXCEPTIONS[name] ?? []
    const args = [packed.get(name)!.tarball, '--no-definitely-typed', '--format', 'ascii', '--no-color']
    await runTool('attw', [...args, ...(ignored.length ? ['--ignore-rules', ...ignored] : [])], project)
  })
})
