// The two entries of @mesa/core: `@mesa/core` for clients and applications, browser-safe, and `@mesa/core/server`
// for servers, portals, dispatchers and adapters. (That the built entries share their classes, imported and
// required, is checked on the tarball: test/packaging.)
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { describe, expect, it } from 'vitest'
import * as main from '../src/index.js'
import * as server from '../src/server.js'

const sources = fileURLToPath(new URL('../src/', import.meta.url))

/** The main entry bundled whole, every export kept, as a browser bundle. */
async function wholeMainEntry(): Promise<string> {
  const result = await build({
    stdin: { contents: "export * from './index.ts'", resolveDir: sources, loader: 'ts' },
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    logLevel: 'silent',
  })
  return result.outputFiles[0]!.text
}

describe('the entries of @mesa/core', () => {
  it('keeps the main entry free of Node-side code: bundled whole, it loads nothing and names no Redis adapter', async () => {
    const code = await wholeMainEntry()
    expect(code).not.toContain('redis-adapter')
    expect(code).not.toMatch(/\bimport\s*\(|\brequire\s*\(|["']node:/)
    // What clients need is there.
    expect(code).toContain('ClientSession')
  })

  it('exports each name from one entry only', () => {
    const both = Object.keys(main).filter((name) => name in server)
    expect(both).toEqual([])
  })

  it('gives servers what they build on, and not through the main entry', () => {
    for (const name of ['MemoryAdapter', 'parseFrame', 'withSequence', 'prepareDispatch', 'redisAdapterLoader']) {
      expect(server).toHaveProperty(name)
      expect(main).not.toHaveProperty(name)
    }
  })
})
