import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { afterEach, beforeAll } from 'vitest'

const packageDir = fileURLToPath(new URL('../../', import.meta.url))
const outDir = `${packageDir}node_modules/.cache/mesa-redis-adapter-test`

/**
 * Bundles a fixture (with `@mesa/core` from source) into a plain ESM file that node runs directly; ioredis and
 * debug (CommonJS, which an ESM bundle cannot require) stay external and resolve from this package's node_modules.
 */
export async function bundleFixture(name: string): Promise<string> {
  mkdirSync(outDir, { recursive: true })
  const outfile = `${outDir}/${name}.mjs`
  await build({
    entryPoints: [`${packageDir}test/fixtures/${name}.ts`],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['ioredis', 'debug'],
    alias: { '@mesa/core': fileURLToPath(new URL('../../../core/src/index.ts', import.meta.url)) },
    logLevel: 'error',
  })
  return outfile
}

/** Starts `node file` and resolves once it printed `line`. */
export async function startChild(file: string, env: Record<string, string>, line: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [file], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child did not print ${line}:\n${output}`)), 10_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes(line)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`child exited with ${code}:\n${output}`))
    })
  }).catch((error: unknown) => {
    child.kill('SIGKILL')
    throw error
  })
  return child
}

export async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGKILL')
  await exited
}

/**
 * For a test file whose tests run fixture `name` in child processes: bundles it once (`beforeAll`), and after
 * each test kills the children `start` made, then cleans up `scope`.
 */
export function childFixture(name: string, scope: { cleanup(): Promise<void> }) {
  const children: ChildProcess[] = []
  let file = ''
  beforeAll(async () => {
    file = await bundleFixture(name)
  })
  afterEach(async () => {
    await Promise.all(children.splice(0).map(killChild))
    await scope.cleanup()
  })
  return {
    /** Starts the fixture with `env`; resolves once it printed `line`. */
    async start(env: Record<string, string>, line: string): Promise<ChildProcess> {
      const child = await startChild(file, env, line)
      children.push(child)
      return child
    },
  }
}
