import type { AuthorizeHook, ServerClient } from '@mesa/server'

/**
 * Whether a token's channels claim grants `channel`: each entry is a channel name, which grants itself, or a name
 * ending in `*`, which grants every channel starting with what precedes it (`room:*`; `*` alone grants every
 * channel: channel names cannot hold a `*`, so it means nothing elsewhere). A claim that is not an array grants
 * nothing, and entries that are not strings are skipped.
 */
export function grantsChannel(claim: unknown, channel: string): boolean {
  if (!Array.isArray(claim)) return false
  return claim.some((entry) => typeof entry === 'string' && (entry.endsWith('*') ? channel.startsWith(entry.slice(0, -1)) : entry === channel))
}

/** A refusal the client reads (`expose`): it names the claim, nothing of the token. */
class NotGranted extends Error {
  readonly expose = true
}

/**
 * The gateway's authorize hook when clients authenticate with JWTs: a client may subscribe itself (op 30, and its
 * resubscriptions after reconnects) to the channels its token's `claim` grants, and to no other (`forbidden`).
 * The claims are the user object, so a renewed token's claims decide the subscriptions asked for after it.
 */
export function claimedChannels(claim: string): AuthorizeHook<ServerClient> {
  const refusal = `the token's "${claim}" claim does not grant this channel`
  return (client, channel) => {
    const claims = client.user as Record<string, unknown> | undefined
    if (grantsChannel(claims?.[claim], channel)) return true
    throw new NotGranted(refusal)
  }
}
