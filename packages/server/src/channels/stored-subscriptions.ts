import type { MessageMap } from '@mesa/core'
import type { SubscriptionEnvelope } from '@mesa/core/server'
import type { AdapterHandle } from '../adapter-handle.js'
import { toError } from '../errors.js'
import type { ServerConnection } from '../server-events.js'

/**
 * A Dispatcher's subscriptions of a user, kept in the adapter (`adapter.userChannels`), for the sockets the user
 * authenticates later: once a socket authenticated, its user's channels are read and it is subscribed to each,
 * from the server (op 31 `srv`; no authorize hook). The Dispatcher changes the set before it publishes the
 * `subscription` envelope, and the socket is indexed under its user before the read, so an envelope and the read
 * together miss nothing; but an envelope unsubscribing a channel while the read is in flight must win over the
 * read's older answer, so such channels are noted per socket and skipped.
 */
export class StoredSubscriptions<In extends MessageMap<In>, Out extends MessageMap<Out>, User> {
  /** Sockets whose user's channels are being read -> the channels envelopes unsubscribed them from meanwhile. */
  private readonly reading = new Map<ServerConnection<In, Out, User>, Set<string>>()

  constructor(
    private readonly adapter: AdapterHandle,
    private readonly subscribe: (connection: ServerConnection<In, Out, User>, channel: string) => Promise<void>,
    private readonly report: (error: Error, connection: ServerConnection<In, Out, User>) => void,
  ) {}

  /** The socket authenticated (op 22 is written): subscribes it to its user's stored channels. */
  authenticated(connection: ServerConnection<In, Out, User>): void {
    const userId = connection.userId
    if (userId === undefined) return
    const unsubscribed = new Set<string>()
    this.reading.set(connection, unsubscribed)
    const subscribe = (channel: string): void => {
      this.subscribe(connection, channel).catch((error: unknown) => this.report(toError(error), connection))
    }
    Promise.resolve(this.adapter.get())
      .then((adapter) => adapter.userChannels.channelsOf(userId))
      .then(
        (channels) => {
          // The socket closed, or authenticated as someone else, meanwhile: these are not its channels any more.
          if (connection.closing || connection.closed || connection.userId !== userId) return
          for (const channel of channels) if (!unsubscribed.has(channel)) subscribe(channel)
        },
        (error: unknown) => this.report(toError(error), connection),
      )
      .finally(() => {
        if (this.reading.get(connection) === unsubscribed) this.reading.delete(connection)
      })
  }

  /** A `subscription` envelope, before it is applied: notes what it changes for sockets whose read is in flight. */
  received(envelope: SubscriptionEnvelope, socketsOf: (userId: string) => Iterable<ServerConnection<In, Out, User>> | undefined): void {
    if (this.reading.size === 0) return
    for (const userId of envelope.userIds) {
      for (const connection of socketsOf(userId) ?? []) {
        const unsubscribed = this.reading.get(connection)
        if (unsubscribed === undefined) continue
        if (envelope.subscribe) unsubscribed.delete(envelope.channel)
        else unsubscribed.add(envelope.channel)
      }
    }
  }
}
