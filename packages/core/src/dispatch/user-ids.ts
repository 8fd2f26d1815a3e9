import { ALL_AUTHENTICATED } from './prepare-dispatch.js'

/**
 * What is wrong with a list of user ids given to a send, or undefined when nothing is. The server and the
 * Dispatcher apply the same rule, each throwing its own error type: user ids are non-empty strings, and `'*'`
 * (every authenticated user) is a recipient only where `allowEveryone` says so (sends; not disconnects).
 */
export function userIdsProblem(what: string, ids: unknown, allowEveryone: boolean): string | undefined {
  if (!Array.isArray(ids)) return `${what} must be an array of user ids`
  for (const id of ids) {
    if (typeof id !== 'string' || id.length === 0) return `${what} must hold non-empty strings, got ${JSON.stringify(id)}`
    if (id === ALL_AUTHENTICATED && !allowEveryone) {
      return `${what}: "${ALL_AUTHENTICATED}" (everyone) is refused here; name the user ids`
    }
  }
  return undefined
}
