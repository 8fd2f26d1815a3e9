import type { AuthenticateDone, AuthenticateHandler, AuthenticationContext } from './connection.js'
import { ServerError, toError } from './errors.js'
import { isThenable } from './guarded-emitter.js'

/** How an authenticate handler settled. */
export type HandlerOutcome<User> =
  /** `done(null, { id, user, expiresAt? })`: `id` as a string. */
  | { kind: 'accepted'; id: string; user: User; expiresAt: number | undefined }
  /** `done(error)`: the application refused the credentials. */
  | { kind: 'refused'; error: unknown }
  /** The handler threw, its promise rejected, or it called `done` without a valid `{ id, user }`. */
  | { kind: 'failed'; error: ServerError }

function isUserId(id: unknown): id is string | number {
  return (typeof id === 'string' && id.length > 0) || (typeof id === 'number' && Number.isFinite(id))
}

/**
 * Runs an authenticate handler of the Mesa 1.x shape, `(data, done) => …` (Mesa 2 adds a third argument, the
 * upgrade's `context`), and resolves with how it settled.
 * The first of `done`, a throw and a rejection of the promise an `async` handler returns counts; a failure after
 * that (an `async` handler that called `done` and then rejected) goes to `late`, so it is reported rather than
 * becoming an unhandled rejection. Never rejects.
 */
export function runAuthenticateHandler<User>(
  handler: AuthenticateHandler<User>,
  data: Record<string, unknown>,
  context: AuthenticationContext,
  late: (error: ServerError) => void,
): Promise<HandlerOutcome<User>> {
  return new Promise((resolve) => {
    let settled = false
    const settle = (outcome: HandlerOutcome<User>): void => {
      if (settled) {
        if (outcome.kind === 'failed') late(outcome.error)
        return
      }
      settled = true
      resolve(outcome)
    }
    const failed = (message: string, cause?: unknown): void =>
      settle({ kind: 'failed', error: new ServerError('authentication-handler-failed', message, { cause }) })
    const done: AuthenticateDone<User> = (error, result) => {
      if (error) settle({ kind: 'refused', error })
      else if (!isUserId(result?.id) || result.user === undefined) {
        failed('the authenticate handler must call done(null, { id, user }) with a non-empty id and a user')
      } else if (result.expiresAt !== undefined && !Number.isFinite(result.expiresAt)) {
        failed('the authenticate handler gave an expiresAt that is not a time in ms since the epoch')
      } else settle({ kind: 'accepted', id: String(result.id), user: result.user, expiresAt: result.expiresAt })
    }
    try {
      const returned: unknown = handler(data, done, context)
      if (isThenable(returned)) {
        returned.then(undefined, (error: unknown) => failed(`the authenticate handler rejected: ${toError(error).message}`, error))
      }
    } catch (error) {
      failed(`the authenticate handler threw: ${toError(error).message}`, error)
    }
  })
}

/** The close reason used when the application's error is not meant for the client. */
export const GENERIC_REFUSAL = 'authentication failed'

/**
 * The message of an error the application marked as meant for the client (`error.expose === true`, the
 * http-errors convention); undefined for any other error, whose details (`pg: connect ECONNREFUSED 10.1.2.3:5432`)
 * are for the server's logs only.
 */
export function exposedMessage(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const { expose, message } = error as { expose?: unknown; message?: unknown }
  return expose === true && typeof message === 'string' && message.length > 0 ? message : undefined
}

/** The close reason a client gets for a refused authentication: the exposed message, or a generic one. */
export function refusalReason(error: unknown): string {
  return exposedMessage(error) ?? GENERIC_REFUSAL
}
