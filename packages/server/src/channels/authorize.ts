import { exposedMessage } from '../authenticate-handler.js'
import { ChannelError, ServerError, toError } from '../errors.js'

/** What an authorize hook answers: allow (`true`, or an object with details), or refuse (`false`). */
export type AuthorizeVerdict =
  | boolean
  | {
      /** `false`: this subscriber stays out of the channel's presence (and its join/leave events). Default: the rule's. */
      presence?: boolean
    }

/**
 * Decides whether a client may subscribe to a channel (`mesa.channels.authorize(hook)`): the client, the channel
 * and the params it sent (op 30's `d`, sanitised like message data; `{}` for a resubscription after a reconnect).
 * Sync or async. To refuse with a reason the client reads, throw an error marked `expose: true`; anything else
 * thrown (or a rejection) refuses with a generic reason and is reported through `error`.
 */
export type AuthorizeHook<Client> = (
  client: Client,
  channel: string,
  params: Record<string, unknown>,
) => AuthorizeVerdict | Promise<AuthorizeVerdict>

/** What a client reads when the application's refusal is not meant for it. */
export const SUBSCRIPTION_REFUSED = 'subscription refused'

/**
 * Runs the hook, guarded: resolves with the subscriber's presence choice when it allows, rejects with
 * `ChannelError` `forbidden` when it refuses, throws or rejects, or answers something else. A failure of the
 * hook itself (not an exposed refusal) goes to `report` first, as a `ServerError` `handler-failed`.
 */
export async function runAuthorizeHook<Client>(
  hook: AuthorizeHook<Client>,
  client: Client,
  channel: string,
  params: Record<string, unknown>,
  report: (error: Error) => void,
): Promise<{ presence?: boolean }> {
  let verdict: unknown
  try {
    verdict = await hook(client, channel, params)
  } catch (error) {
    const exposed = exposedMessage(error)
    if (exposed !== undefined) throw new ChannelError('forbidden', exposed)
    report(new ServerError('handler-failed', `the channel authorize hook failed: ${toError(error).message}`, { cause: error }))
    throw new ChannelError('forbidden', SUBSCRIPTION_REFUSED)
  }
  if (verdict === true) return {}
  if (verdict === false) throw new ChannelError('forbidden', SUBSCRIPTION_REFUSED)
  if (typeof verdict === 'object' && verdict !== null && !Array.isArray(verdict)) {
    const { presence } = verdict as { presence?: unknown }
    return typeof presence === 'boolean' ? { presence } : {}
  }
  report(
    new ServerError('handler-failed', `the channel authorize hook must answer a boolean or an object, got ${typeof verdict}`),
  )
  throw new ChannelError('forbidden', SUBSCRIPTION_REFUSED)
}
