import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AdapterError, ConfigError } from '../src/index.js'
import {
  type Adapter,
  createLoadedRedisAdapter,
  MemoryAdapter,
  type RedisAdapterRequester,
  redisAdapterLoader,
  redisAdapterLoadError,
} from '../src/server.js'

const server: RedisAdapterRequester = { owner: 'Mesa', need: 'option "redis"', alternative: 'an Adapter as option "adapter"' }

/** A package installed next to a project whose own dependency is missing: loading it fails with "not found". */
const BROKEN = 'mesa-adapter-with-missing-dependency'
const ABSENT = 'mesa-adapter-that-is-not-installed'
let project: string
let requireFromProject: NodeJS.Require

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'mesa-resolve-adapter-'))
  const pkg = join(project, 'node_modules', BROKEN)
  mkdirSync(pkg, { recursive: true })
  writeFileSync(
    join(pkg, 'package.json'),
    JSON.stringify({ name: BROKEN, exports: { import: './index.mjs', require: './index.cjs' } }),
  )
  writeFileSync(join(pkg, 'index.cjs'), "require('ioredis-that-is-not-installed')\n")
  writeFileSync(join(pkg, 'index.mjs'), "import 'ioredis-that-is-not-installed'\n")
  requireFromProject = createRequire(join(project, 'index.js'))
})

afterAll(() => rmSync(project, { recursive: true, force: true }))

/** What a CJS build does (its `import()` is a `require()`): build the error from what the require threw. */
function requireAdapter(specifier: string): Adapter | Promise<Adapter> {
  let loaded: unknown
  try {
    loaded = requireFromProject(specifier)
  } catch (error) {
    throw redisAdapterLoadError(server, specifier, error)
  }
  return createLoadedRedisAdapter(server, specifier, loaded, 'redis://127.0.0.1:6379', undefined)
}

function thrown(run: () => unknown): unknown {
  try {
    run()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

describe('loading @mesa/redis-adapter', () => {
  it('names the package and the way out when it is not installed, in the words of the requester', () => {
    const error = thrown(() => requireAdapter(ABSENT))
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as Error).message).toBe(
      `Mesa: option "redis" needs the optional package ${ABSENT}, which is not installed; ` +
        `install it (pnpm add ${ABSENT}) or pass an Adapter as option "adapter"`,
    )
  })

  it('tells a missing dependency of the package from the package being absent (require)', () => {
    const error = thrown(() => requireAdapter(BROKEN))
    expect(error).toBeInstanceOf(AdapterError)
    expect((error as Error).message).toMatch(`Mesa: loading ${BROKEN} failed:`)
    expect((error as Error).message).toContain('ioredis-that-is-not-installed')
    expect((error as AdapterError).cause).toMatchObject({ code: 'MODULE_NOT_FOUND' })
  })

  it('tells a missing dependency of the package from the package being absent (import)', async () => {
    const entry = pathToFileURL(join(project, 'node_modules', BROKEN, 'index.mjs')).href
    const { loadRedisAdapter } = redisAdapterLoader('Portal', (specifier) =>
      specifier === BROKEN ? import(entry) : import(specifier),
    )
    const failure = loadRedisAdapter('redis://127.0.0.1:6379', undefined, BROKEN)
    await expect(failure).rejects.toBeInstanceOf(AdapterError)
    await expect(failure).rejects.toThrow(`Portal: loading ${BROKEN} failed:`)
    const absent = loadRedisAdapter('redis://127.0.0.1:6379', undefined, ABSENT)
    await expect(absent).rejects.toThrow(
      `Portal: a Redis connection needs the optional package ${ABSENT}, which is not installed; ` +
        `install it (pnpm add ${ABSENT}) or pass an Adapter`,
    )
  })

  it('rejects a package without createRedisAdapter, naming it', () => {
    const error = thrown(() => createLoadedRedisAdapter(server, 'old-adapter', { version: 1 }, 'redis://x', undefined))
    expect(error).toBeInstanceOf(AdapterError)
    expect((error as Error).message).toBe('Mesa: old-adapter does not export createRedisAdapter; check its version')
  })

  it('checks what createRedisAdapter returned, synchronously or once its promise settles', async () => {
    const returnsNothing = { createRedisAdapter: () => ({}) }
    expect(() => createLoadedRedisAdapter(server, 'odd-adapter', returnsNothing, 'redis://x', undefined)).toThrow(
      "Mesa: odd-adapter's createRedisAdapter returned no Adapter",
    )
    const resolvesNothing = { createRedisAdapter: async () => ({}) }
    await expect(createLoadedRedisAdapter(server, 'odd-adapter', resolvesNothing, 'redis://x', undefined)).rejects.toThrow(
      AdapterError,
    )
  })

  it('passes the connection and namespace on and stays synchronous when createRedisAdapter is', async () => {
    const calls: unknown[] = []
    const loaded = {
      createRedisAdapter: (connection: unknown, options: { namespace?: string }) => {
        calls.push(connection, options)
        return new MemoryAdapter(options)
      },
    }
    const adapter = createLoadedRedisAdapter(server, 'sync-adapter', loaded, { host: '127.0.0.1' }, 'ns')
    expect(adapter).toBeInstanceOf(MemoryAdapter)
    expect((adapter as Adapter).namespace).toBe('ns')
    expect(calls).toEqual([{ host: '127.0.0.1' }, { namespace: 'ns' }])
    await (adapter as Adapter).close()
    const defaulted = createLoadedRedisAdapter(server, 'sync-adapter', loaded, 'redis://x', undefined) as Adapter
    expect(calls[3]).toEqual({})
    await defaulted.close()
  })
})
