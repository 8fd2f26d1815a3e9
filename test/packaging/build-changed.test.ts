// scripts/build-changed.mjs, which `pnpm start` runs before starting the gateway: it builds only the packages
// whose sources changed since their last build, quietly. Checked on a workspace of its own in a temporary
// folder, whose two packages "build" by copying their source to the outputs their package.json declares.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildablePackages, buildChanged, stalePackages } from '../../scripts/build-changed.mjs'

const BUILD = `import { cpSync, mkdirSync } from 'node:fs'
mkdirSync('dist', { recursive: true })
for (const output of ['index.js', 'index.d.ts']) cpSync('src/index.ts', 'dist/' + output)
`

let root: string

function writeFile(path: string, text: string): void {
  mkdirSync(join(root, path, '..'), { recursive: true })
  writeFileSync(join(root, path), text)
}

/** Sets a file's modification time `seconds` from now (file systems round mtimes: whole seconds are safe). */
function age(path: string, seconds: number): void {
  const time = new Date(Date.now() + seconds * 1000)
  utimesSync(join(root, path), time, time)
}

/** Makes every file two minutes old and every build output one minute old: all builds up to date. */
function settle(dir = root): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) settle(path)
    else age(relative(root, path), dir.endsWith('dist') ? -60 : -120)
  }
}

function addPackage(dir: string, manifest: object): void {
  writeFile(`packages/${dir}/package.json`, JSON.stringify(manifest))
  writeFile(`packages/${dir}/src/index.ts`, `export const name = '${dir}'\n`)
  writeFile(`packages/${dir}/build.mjs`, BUILD)
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'mesa-build-changed-'))
  writeFile('pnpm-workspace.yaml', 'packages:\n  - packages/*\n')
  writeFile('package.json', JSON.stringify({ name: 'workspace', private: true }))
  writeFile('tsup.base.ts', '')
  writeFile('tsconfig.base.json', '{}')
  for (const dir of ['a', 'b']) {
    addPackage(dir, {
      name: dir,
      exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } },
      scripts: { build: 'node build.mjs' },
    })
  }
  addPackage('kit', { name: 'kit', private: true })
})

afterEach(() => rmSync(root, { recursive: true, force: true }))

describe('build-changed', () => {
  it('knows the packages that have a build script', () => {
    expect(buildablePackages(root).map(({ name }) => name)).toEqual(['a', 'b'])
  })

  it('builds what was never built, then nothing until a source changes', () => {
    expect(buildChanged({ root })).toEqual(['a', 'b'])
    expect(readFileSync(join(root, 'packages/a/dist/index.js'), 'utf8')).toBe("export const name = 'a'\n")
    expect(stalePackages(root)).toEqual([])
    expect(buildChanged({ root })).toEqual([])
  })

  it('rebuilds only the package whose source, package.json or build config changed', () => {
    buildChanged({ root })
    settle()
    expect(stalePackages(root)).toEqual([])

    writeFile('packages/b/README.md', 'docs are no input\n')
    writeFile('packages/b/test/b.test.ts', 'tests are no input\n')
    expect(stalePackages(root)).toEqual([])

    age('packages/b/src/index.ts', 0)
    expect(stalePackages(root)).toEqual(['b'])
    age('packages/b/src/index.ts', -120)
    age('packages/a/package.json', 0)
    expect(stalePackages(root)).toEqual(['a'])
    age('packages/a/package.json', -120)
    age('tsup.base.ts', 0)
    expect(stalePackages(root)).toEqual(['a', 'b'])
  })

  it('rebuilds a package when a workspace package it depends on changed (its build may inline it)', () => {
    writeFile(
      'packages/a/package.json',
      JSON.stringify({ ...JSON.parse(readFileSync(join(root, 'packages/a/package.json'), 'utf8')), dependencies: { b: 'workspace:^' } }),
    )
    buildChanged({ root })
    settle()
    expect(stalePackages(root)).toEqual([])
    age('packages/b/src/index.ts', 0)
    expect(stalePackages(root)).toEqual(['a', 'b'])
    age('packages/b/src/index.ts', -120)
    age('packages/a/src/index.ts', 0)
    expect(stalePackages(root)).toEqual(['a'])
  })

  it('rebuilds a package that lacks an output its package.json declares', () => {
    buildChanged({ root })
    rmSync(join(root, 'packages/b/dist/index.d.ts'))
    expect(buildChanged({ root })).toEqual(['b'])
  })

  it('reports what it builds in one line, and a failing build with its output', () => {
    const lines: string[] = []
    buildChanged({ root, log: (line) => lines.push(line) })
    expect(lines).toEqual(['building a, b (sources changed since the last build)'])
    writeFile('packages/a/src/index.ts', 'changed\n')
    writeFile('packages/a/build.mjs', "console.log('compiler says no'); process.exit(2)\n")
    expect(() => buildChanged({ root })).toThrow(/building a failed:[\s\S]*compiler says no/)
  })
})
