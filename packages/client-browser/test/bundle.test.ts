import { describe, expect, it } from 'vitest'
import { bundleClient } from './harness.js'

describe('browser bundle', () => {
  // esbuild, bundling for the browser platform with nothing external, fails on any `node:` import or Node-only
  // package; the rest guards against Node globals, which would need a bundler shim.
  it.each(['esm', 'iife'] as const)('bundles for the browser with no Node built-ins or globals (%s)', async (format) => {
    const code = await bundleClient(format)
    for (const nodeOnly of [/\bprocess\b/, /\bBuffer\b/, /\brequire\s*\(/, /\b__dirname\b/, /\bglobal\./, /\bsetImmediate\b/]) {
      expect(code).not.toMatch(nodeOnly)
    }
    expect(code).toMatch(/\bWebSocket\b/)
  })

  it('the IIFE build defines the global Mesa with the client API', async () => {
    const code = await bundleClient('iife')
    const scope: { Mesa?: Record<string, unknown> } = {}
    // A plain script sees `globalThis` as its global object: here, the stand-in `scope`.
    new Function('globalThis', code)(scope)
    const esm = await import('../src/index.js')
    // Every runtime export of the package (`default` is `Client` again).
    const exported = Object.keys(esm).filter((name) => name !== 'default')
    expect(Object.keys(scope.Mesa ?? {}).sort()).toEqual(exported.sort())
    expect(typeof scope.Mesa?.Client).toBe('function')
  })
})
