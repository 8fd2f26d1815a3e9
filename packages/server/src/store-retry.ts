/**
 * How a socket waits out a store it cannot read (a Redis outage, or Redis back on pub/sub before the command
 * connection): it tries again `STORE_RETRY_MS` later, doubling the wait after each failure up to
 * `STORE_RETRY_MAX_MS`. Channel subscriptions reading their start and deliveries filling a gap both wait this way.
 */
export const STORE_RETRY_MS = 100
export const STORE_RETRY_MAX_MS = 2000

/** The wait after one more failed read. */
export function nextStoreRetry(wait: number): number {
  return Math.min(2 * wait, STORE_RETRY_MAX_MS)
}
