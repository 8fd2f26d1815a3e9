import { AdapterError, ConfigError } from '../errors.js'
import type { Adapter } from './adapter.js'

/** The optional package a Redis connection needs; loaded only then, so it stays an optional peer. */
export const REDIS_ADAPTER_PACKAGE = '@mesa/redis-adapter'

/**
 * Where Redis is, for `@mesa/redis-adapter` to connect to: a URL, or what its `createRedisAdapter` accepts
 * besides (ioredis options, Cluster startup nodes, an ioredis client), as Mesa 1.x accepted ioredis options.
 */
export type RedisConnection = string | { readonly [option: string]: unknown }

interface RedisAdapterModule {
  createRedisAdapter(connection: RedisConnection, options?: { namespace?: string }): Adapter | Promise<Adapter>
}

/** An adapter to use, and whether it was created here (and so must be closed here). */
export interface ResolvedAdapter {
  adapter: Adapter
  owned: boolean
}

function isAdapter(value: unknown): value is Adapter {
  if (typeof value !== 'object' || value === null) return false
  const candidate = value as Partial<Record<keyof Adapter, unknown>>
  return (
    typeof candidate.publish === 'function' &&
    typeof candidate.subscribe === 'function' &&
    typeof candidate.close === 'function' &&
    typeof candidate.portal === 'object' &&
    candidate.portal !== null
  )
}

function isModuleNotFound(error: unknown, specifier: string): boolean {
  if (typeof error !== 'object' || error === null) return false
  const { code, message } = error as { code?: unknown; message?: unknown }
  const notFound = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
  // A missing dependency of the adapter (ioredis) is a different failure from the adapter itself being absent.
  // Its message names the adapter too, unquoted, in the path of the importing file: so match the quoted name.
  return notFound && typeof message === 'string' && message.includes(`'${specifier}'`)
}

/**
 * Who asked for `@mesa/redis-adapter`, so that the errors of loading it say what the user wrote and what to
 * write instead: the package is imported by Portal, Dispatcher and the server (which resolves it synchronously
 * first, so that a missing one fails in its constructor).
 */
export interface RedisAdapterRequester {
  /** Starts every message: `Portal`, `Dispatcher`, `Mesa`. */
  readonly owner: string
  /** What needs the package: `a Redis connection`, `option "redis"`. */
  readonly need: string
  /** What to pass instead of installing it: `an Adapter`, `an Adapter as option "adapter"`. */
  readonly alternative: string
}

/** The error to throw when importing or requiring `specifier` failed: not installed, or failing to load. */
export function redisAdapterLoadError(requester: RedisAdapterRequester, specifier: string, error: unknown): Error {
  const { owner, need, alternative } = requester
  if (isModuleNotFound(error, specifier)) {
    return new ConfigError(
      `${owner}: ${need} needs the optional package ${specifier}, which is not installed; ` +
        `install it (pnpm add ${specifier}) or pass ${alternative}`,
    )
  }
  return new AdapterError(`${owner}: loading ${specifier} failed: ${String(error)}`, { cause: error })
}

/**
 * Creates the adapter with the `createRedisAdapter` of the loaded `specifier` module, checking that the
 * module has one (a wrong version of the package) and that it returned an Adapter. Synchronous when
 * `createRedisAdapter` is, so the server's constructor-time path stays synchronous.
 */
export function createLoadedRedisAdapter(
  requester: RedisAdapterRequester,
  specifier: string,
  loaded: unknown,
  connection: RedisConnection,
  namespace: string | undefined,
): Adapter | Promise<Adapter> {
  const { owner } = requester
  const create = (loaded as Partial<RedisAdapterModule> | null | undefined)?.createRedisAdapter
  if (typeof create !== 'function') {
    throw new AdapterError(`${owner}: ${specifier} does not export createRedisAdapter; check its version`)
  }
  const checked = (adapter: unknown): Adapter => {
    if (!isAdapter(adapter)) throw new AdapterError(`${owner}: ${specifier}'s createRedisAdapter returned no Adapter`)
    return adapter
  }
  const created = create(connection, namespace === undefined ? {} : { namespace })
  return created instanceof Promise ? created.then(checked) : checked(created)
}

/**
 * The adapter argument handling of a Portal or Dispatcher (an Adapter, a Redis URL or Redis connection
 * options), with errors that name `owner`. `@mesa/redis-adapter` is imported at run time only when a URL or
 * options are given, so nobody who passes an Adapter needs it. `importModule` is the caller's own
 * `(specifier) => import(specifier)`: a module is resolved from the package that imports it, and it is the
 * Portal's or Dispatcher's package that has `@mesa/redis-adapter` beside it, not core. It also loads the build
 * of the caller's format: the CJS builds compile `import()` to `require()` (tsup.base.ts), so a CommonJS
 * application gets the CommonJS adapter and no second, ESM copy of core.
 */
export function redisAdapterLoader(owner: string, importModule: (specifier: string) => Promise<unknown>) {
  /** Checks the constructor argument synchronously, so a wrong type throws where the mistake was made. */
  function checkAdapterArgument(value: unknown, namespace: string | undefined): void {
    if (typeof value === 'string') {
      if (value.length === 0) throw new ConfigError(`${owner}: the Redis URL is empty`)
      return
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ConfigError(
        `${owner}: the first argument must be an Adapter (e.g. MemoryAdapter), a Redis URL or Redis connection options`,
      )
    }
    if (isAdapter(value) && namespace !== undefined && namespace !== value.namespace) {
      throw new ConfigError(
        `${owner}: options.namespace "${namespace}" differs from the adapter's namespace "${value.namespace}"; ` +
          'the namespace of an adapter is set where it is created',
      )
    }
  }

  const requester: RedisAdapterRequester = { owner, need: 'a Redis connection', alternative: 'an Adapter' }

  /**
   * Creates a Redis adapter by importing `@mesa/redis-adapter` at run time. The specifier is a variable so
   * bundlers leave it alone and the package is never required by anyone who passes an Adapter.
   */
  async function loadRedisAdapter(
    connection: RedisConnection,
    namespace: string | undefined,
    specifier: string = REDIS_ADAPTER_PACKAGE,
  ): Promise<Adapter> {
    let loaded: unknown
    try {
      loaded = await importModule(specifier)
    } catch (error) {
      throw redisAdapterLoadError(requester, specifier, error)
    }
    return createLoadedRedisAdapter(requester, specifier, loaded, connection, namespace)
  }

  async function resolveAdapter(
    adapterOrRedis: Adapter | RedisConnection,
    namespace: string | undefined,
    specifier?: string,
  ): Promise<ResolvedAdapter> {
    if (isAdapter(adapterOrRedis)) return { adapter: adapterOrRedis, owned: false }
    return { adapter: await loadRedisAdapter(adapterOrRedis, namespace, specifier), owned: true }
  }

  return { checkAdapterArgument, loadRedisAdapter, resolveAdapter }
}
