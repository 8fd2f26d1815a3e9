import { ALL_AUTHENTICATED, type DispatchEnvelope, GLOBAL_EXTENSION, withSequence } from '@mesa/core/server'
import type { Connection } from './connection.js'
import type { RecipientIndex } from './recipient-index.js'

export interface LocalSockets<User, C = unknown> {
  /** Every open socket of this server. */
  all: ReadonlySet<Connection<User, C>>
  index: RecipientIndex<Connection<User, C>>
  /** `authentication.required`: broadcasts skip unauthenticated sockets. */
  authenticatedOnly: boolean
}

/**
 * Writes an envelope to this server's sockets. The frame is encoded once; protocol 2 sockets get the
 * sequenced variant, built once per message (global stream) or once per recipient (user streams), never per
 * socket. Returns the sockets written to when `collect` is set (for `onMessageSent` and `storeMessages`).
 */
export function deliverLocally<User, C>(
  sockets: LocalSockets<User, C>,
  envelope: DispatchEnvelope,
  collect: boolean,
): Connection<User, C>[] | undefined {
  const { frame, recipients, excluding, sequences } = envelope
  const sent = collect ? ([] as Connection<User, C>[]) : undefined
  if (recipients === undefined || recipients.includes(ALL_AUTHENTICATED)) {
    const authenticatedOnly = recipients !== undefined || sockets.authenticatedOnly
    const excluded = excluding !== undefined && excluding.length > 0 ? new Set(excluding) : undefined
    const global = sequences?.global
    const sequenced = global === undefined ? frame : withSequence(frame, global.seq, GLOBAL_EXTENSION)
    for (const connection of sockets.all) {
      if (authenticatedOnly && !connection.authenticated) continue
      const v2 = connection.protocol === 2 && global !== undefined
      if (excluded !== undefined && connection.userId !== undefined && excluded.has(connection.userId)) {
        // Not for this user, but the position is taken: moving the cursor avoids reading a "gap" later.
        if (v2 && connection.authenticated) connection.delivery.writeSequenced('global', global.seq, null, global.epoch)
        continue
      }
      if (v2) connection.delivery.writeSequenced('global', global.seq, sequenced, global.epoch)
      else connection.delivery.write(frame)
      sent?.push(connection)
    }
    return sent
  }
  const users = sequences?.users
  const epochs = sequences?.userEpochs
  for (let i = 0; i < recipients.length; i++) {
    const targets = sockets.index.get(recipients[i]!)
    if (targets === undefined) continue
    const seq = users?.[i]
    let sequenced: string | undefined
    for (const connection of targets) {
      if (connection.protocol === 2 && seq !== undefined) {
        sequenced ??= withSequence(frame, seq)
        connection.delivery.writeSequenced('user', seq, sequenced, epochs?.[i])
      } else {
        connection.delivery.write(frame)
      }
      sent?.push(connection)
    }
  }
  return sent
}
