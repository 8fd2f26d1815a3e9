import type { RetentionOptions } from '../adapter/message-store.js'
import { checkPositiveInteger } from '../check-number.js'

/** Entries kept per stream when `RetentionOptions.maxEntries` is not given. */
export const DEFAULT_MAX_ENTRIES = 1000
/** Age (ms) beyond which entries are dropped when `RetentionOptions.maxAgeMs` is not given: 24 hours. */
export const DEFAULT_MAX_AGE_MS = 24 * 60 * 60 * 1000
/** Bytes kept per stream when `RetentionOptions.maxBytes` is not given: 16 MiB. */
export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024

/** Retention bounds with defaults applied; shared by every store so they read the options the same way. */
export function resolveRetention(options: RetentionOptions = {}): Required<RetentionOptions> {
  return {
    maxEntries: checkPositiveInteger('retention.maxEntries', options.maxEntries ?? DEFAULT_MAX_ENTRIES),
    maxAgeMs: checkPositiveInteger('retention.maxAgeMs', options.maxAgeMs ?? DEFAULT_MAX_AGE_MS),
    maxBytes: checkPositiveInteger('retention.maxBytes', options.maxBytes ?? DEFAULT_MAX_BYTES),
  }
}
