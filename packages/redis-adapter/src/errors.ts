import { AdapterError, StoreError } from '@mesa/core'
import { RedisTimeoutError } from './connection.js'

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/**
 * `<what>: <reason>` as an `AdapterError`, coded `adapter-timeout` when Redis did not answer in time, so callers
 * can tell a hung Redis (whose command may still be carried out) from a failed call.
 */
export function adapterError(what: string, error: unknown): AdapterError {
  return new AdapterError(`${what}: ${errorMessage(error)}`, {
    cause: error,
    code: error instanceof RedisTimeoutError ? 'adapter-timeout' : 'adapter-failed',
  })
}

/** As `adapterError`, for the message store: `store-timeout` or `store-failed`. */
export function storeError(what: string, error: unknown): StoreError {
  return new StoreError(`${what}: ${errorMessage(error)}`, {
    cause: error,
    code: error instanceof RedisTimeoutError ? 'store-timeout' : 'store-failed',
  })
}
