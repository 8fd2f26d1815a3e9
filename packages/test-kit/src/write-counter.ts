import type { Writable } from 'node:stream'

/**
 * Counts the writes a stream hands to its underlying resource (one per system call for a socket): wraps its
 * `_write` and `_writev`, which a corked or busy stream calls once for everything buffered. For tests that check
 * write coalescing; the wrappers live as long as the stream.
 */
export function countWrites(stream: Writable): () => number {
  const internals = stream as unknown as Record<'_write' | '_writev', ((...args: unknown[]) => unknown) | undefined>
  let writes = 0
  for (const method of ['_write', '_writev'] as const) {
    const original = internals[method]
    if (!original) continue
    internals[method] = function (this: unknown, ...args: unknown[]) {
      writes++
      return original.apply(this, args)
    }
  }
  return () => writes
}
