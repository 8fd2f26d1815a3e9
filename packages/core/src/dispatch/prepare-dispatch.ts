import type { Adapter } from '../adapter/adapter.js'
import type { DispatchEnvelope } from '../adapter/envelope.js'
import { GLOBAL_STREAM, type StoreEntryInput, userStream } from '../adapter/message-store.js'
import { StoreError } from '../errors.js'
import { encodeMessage, type Message } from '../message.js'

export interface PrepareDispatchOptions {
  /**
   * Redelivery is on (`sync.enabled` of the server, `sync` of the dispatcher): a message whose
   * `options.sync` is not `false` is stored before anyone gets it. Default false.
   */
  sync?: boolean
  /** Id of the server or dispatcher publishing the envelope. */
  origin: string
  /**
   * Called, once the message is stored, with the recipients of a targeted send that were offline when it was
   * sent (their entries are flagged `undelivered`, what Mesa 1.x clients get back on `shouldSync`).
   */
  onUndelivered?: (userIds: string[]) => void
}

/** The recipients list meaning "every authenticated user". */
export const ALL_AUTHENTICATED = '*'

/** True when `recipients` addresses every socket (absent) or every authenticated user (`['*']`). */
export function isBroadcast(recipients: readonly string[] | undefined): boolean {
  return recipients === undefined || recipients.includes(ALL_AUTHENTICATED)
}

function unique(ids: readonly string[], excluded: ReadonlySet<string> | undefined): string[] {
  const seen = new Set<string>()
  for (const id of ids) if (!excluded?.has(id)) seen.add(id)
  return [...seen]
}

function storeFailure(what: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error
  const detail = error instanceof Error ? error.message : String(error)
  return new StoreError(`storing the message for redelivery failed (${what}): ${detail}`, { cause: error })
}

/**
 * Encodes a message once and, when it is to be redelivered, stores it before anyone can receive it: a targeted
 * send appends one entry per recipient to their `user:<id>` streams in one round trip, a broadcast one entry
 * to the global stream (with `excluding` and `authenticatedOnly`, so a replay skips what a user was not meant
 * to get). Resolves with the envelope to deliver locally and publish, carrying the positions it got; rejects
 * with `StoreError` when the store failed, so the caller knows the message may not be redelivered.
 *
 * `recipients`: absent = every socket, `['*']` = every authenticated user, else user ids (deduplicated,
 * `excluding` removed; the envelope's `recipients[i]` matches `sequences.users[i]`).
 */
export async function prepareDispatch(
  adapter: Pick<Adapter, 'store' | 'presence'>,
  message: Message<string, object>,
  recipients: readonly string[] | undefined,
  excluding: readonly string[] | undefined,
  options: PrepareDispatchOptions,
): Promise<DispatchEnvelope> {
  const frame = encodeMessage(message)
  const envelope: DispatchEnvelope = { kind: 'dispatch', origin: options.origin, frame }
  const excluded = excluding !== undefined && excluding.length > 0 ? new Set(excluding) : undefined
  const store = options.sync === true && message.options.sync

  if (isBroadcast(recipients)) {
    if (recipients !== undefined) envelope.recipients = [ALL_AUTHENTICATED]
    if (excluded) envelope.excluding = [...excluded]
    if (!store) return envelope
    const entry: StoreEntryInput = { frame }
    if (excluded) entry.excluding = [...excluded]
    if (recipients !== undefined) entry.authenticatedOnly = true
    try {
      envelope.sequences = { global: await adapter.store.append(GLOBAL_STREAM, entry) }
    } catch (error) {
      throw storeFailure('global stream', error)
    }
    return envelope
  }

  const targets = unique(recipients!, excluded)
  envelope.recipients = targets
  if (!store || targets.length === 0) return envelope
  let online: boolean[]
  try {
    online = await adapter.presence.areOnline(targets)
  } catch {
    // Without presence nobody is known to be online: flagging everyone undelivered may give a 1.x client a
    // message twice, which beats losing it.
    online = targets.map(() => false)
  }
  const offline: string[] = []
  const items = targets.map((id, i) => {
    if (online[i]) return { stream: userStream(id), entry: { frame } }
    offline.push(id)
    return { stream: userStream(id), entry: { frame, undelivered: true } }
  })
  try {
    const positions = await adapter.store.appendMany(items)
    envelope.sequences = {
      users: positions.map((position) => position.seq),
      userEpochs: positions.map((position) => position.epoch),
    }
  } catch (error) {
    throw storeFailure(`${targets.length} user stream(s)`, error)
  }
  if (offline.length > 0) options.onUndelivered?.(offline)
  return envelope
}
