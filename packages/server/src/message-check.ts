import type { Message } from '@mesa/core'

/**
 * Whether a value the application passed is a `Message` the server can send: checked by shape, not `instanceof`,
 * so that a `Message` of another copy of `@mesa/core` (a bundled browser build, another version) passes too.
 */
export function isMessage(value: unknown): value is Message<string, object> {
  if (typeof value !== 'object' || value === null) return false
  const { opcode, data, options } = value as Partial<Message<string, object>>
  return Number.isInteger(opcode) && typeof data === 'object' && data !== null && typeof options === 'object'
}
