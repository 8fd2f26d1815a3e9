import { type Adapter, AdapterError, ConfigError } from '@mesa/core'

/** The optional package a Redis URL needs; loaded only when a URL is given, so it stays an optional peer. */
export const REDIS_ADAPTER_PACKAGE = '@mesa/redis-adapter'

interface RedisAdapterModule {
  createRedisAdapter(url: string, options?: { namespace?: string }): Adapter | Promise<Adapter>
}

/** An adapter to use, and whether this dispatcher created it (and so must close it). */
export interface ResolvedAdapter {
  adapter: Adapter
  owned: boolean
}

export function isAdapter(value: unknown): value is Adapter {
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

/** Checks the constructor argument synchronously, so a wrong type throws where the mistake was made. */
export function checkAdapterArgument(value: unknown, namespace: string | undefined): void {
  if (typeof value === 'string') {
    if (value.length === 0) throw new ConfigError('Dispatcher: the Redis URL is empty')
    return
  }
  if (!isAdapter(value)) {
    throw new ConfigError('Dispatcher: the first argument must be an Adapter (e.g. MemoryAdapter) or a Redis URL')
  }
  if (namespace !== undefined && namespace !== value.namespace) {
    throw new ConfigError(
      `Dispatcher: options.namespace "${namespace}" differs from the adapter's namespace "${value.namespace}"; ` +
        'the namespace of an adapter is set where it is created',
    )
  }
}

function isModuleNotFound(error: unknown, specifier: string): boolean {
  if (typeof error !== 'object' || error === null) return false
  const { code, message } = error as { code?: unknown; message?: unknown }
  const notFound = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
  // A missing dependency of the adapter (ioredis) is a different failure from the adapter itself being absent.
  return notFound && typeof message === 'string' && message.includes(specifier)
}

/**
 * Creates a Redis adapter from a URL by importing `@mesa/redis-adapter` at run time. The specifier is a
 * variable so bundlers leave it alone and the package is never required by anyone who passes an Adapter.
 */
export async function loadRedisAdapter(
  url: string,
  namespace: string | undefined,
  specifier: string = REDIS_ADAPTER_PACKAGE,
): Promise<Adapter> {
  let loaded: Partial<RedisAdapterModule>
  try {
    loaded = (await import(specifier)) as Partial<RedisAdapterModule>
  } catch (error) {
    if (isModuleNotFound(error, specifier)) {
      throw new ConfigError(
        `Dispatcher: a Redis URL needs the optional package ${specifier}, which is not installed; ` +
          `install it (pnpm add ${specifier}) or pass an Adapter instead of a URL`,
      )
    }
    throw new AdapterError(`Dispatcher: loading ${specifier} failed: ${String(error)}`, { cause: error })
  }
  if (typeof loaded.createRedisAdapter !== 'function') {
    throw new AdapterError(`Dispatcher: ${specifier} does not export createRedisAdapter; check its version`)
  }
  const adapter = await loaded.createRedisAdapter(url, namespace === undefined ? {} : { namespace })
  if (!isAdapter(adapter)) throw new AdapterError(`Dispatcher: ${specifier}'s createRedisAdapter returned no Adapter`)
  return adapter
}

export async function resolveAdapter(
  adapterOrUrl: Adapter | string,
  namespace: string | undefined,
  specifier?: string,
): Promise<ResolvedAdapter> {
  if (typeof adapterOrUrl !== 'string') return { adapter: adapterOrUrl, owned: false }
  return { adapter: await loadRedisAdapter(adapterOrUrl, namespace, specifier), owned: true }
}
