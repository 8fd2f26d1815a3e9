// Helpers every benchmark section shares.
import { once } from 'node:events'

/**
 * Sends `command` to a child process (none: only waits) and resolves with its next message. The listener is
 * attached first, so a reply cannot come before it.
 */
export function ask(child, command) {
  const reply = once(child, 'message').then(([message]) => message)
  if (command !== undefined) child.send(command)
  return reply
}

/** The middle value (the upper one of an even count). */
export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

/**
 * Resolves once a clients process (bench/clients-process.mjs) counted `expected` messages, asking it every
 * `pollMs`; throws after two minutes.
 */
export async function received(clients, expected, pollMs = 20) {
  const deadline = Date.now() + 120_000
  for (;;) {
    const { received: count } = await ask(clients, 'count')
    if (count >= expected) return count
    if (Date.now() > deadline) throw new Error(`only ${count} of ${expected} messages arrived`)
    await new Promise((resolve) => setTimeout(resolve, pollMs))
  }
}
