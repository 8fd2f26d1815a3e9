import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { assertBuilt, REPO_ROOT } from '@mesa/test-kit'
import { beforeAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const dist = `${REPO_ROOT}packages/server/dist/`

/** Runs an ES module in a fresh Node process whose resolver refuses `prom-client` (as if it were not installed). */
async function withoutPromClient(source: string): Promise<string> {
  const hook = `export async function resolve(specifier, context, next) {
    if (specifier === 'prom-client') throw new Error('prom-client was loaded')
    return next(specifier, context)
  }`
  const script = `
    import { register } from 'node:module'
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}))
    ${source}`
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: dist })
  return stdout.trim()
}

describe('@mesa/server entries', () => {
  beforeAll(() => assertBuilt(['server']))

  it('the main entry never loads prom-client (ESM and CJS); @mesa/server/metrics does', async () => {
    const output = await withoutPromClient(`
      import { createRequire } from 'node:module'
      const { Mesa } = await import(${JSON.stringify(`${dist}index.js`)})
      const mesa = new Mesa({ port: 0, host: '127.0.0.1' })
      await mesa.listening()
      await mesa.close()
      const require = createRequire(${JSON.stringify(dist)})
      require('./index.cjs')
      const loaded = Object.keys(require.cache).some((path) => path.includes('prom-client'))
      console.log('main entry:', loaded ? 'loaded prom-client' : 'ok')
      await import(${JSON.stringify(`${dist}metrics.js`)}).then(
        () => console.log('metrics entry: ok'),
        (error) => console.log('metrics entry:', error.message),
      )`)
    expect(output.split('\n')).toEqual(['main entry: ok', 'metrics entry: prom-client was loaded'])
  })
})
