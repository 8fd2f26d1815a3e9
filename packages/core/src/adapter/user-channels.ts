/**
 * The channels each user was subscribed to from a backend (`Dispatcher.subscribe(userIds, channel)`), shared by
 * every server of the adapter. A dispatcher adds a channel here before it publishes the `subscription` envelope,
 * so that a socket of the user authenticating later, on any server, gets the subscription too: the server reads
 * `channelsOf(userId)` when a socket authenticates and subscribes it to each (see `docs/adapters.md`).
 *
 * The sets are durable state owned by the application, like a database row: they do not expire, and a user's
 * channels stay until they are removed. Each set is bounded by the caller's `maxPerUser`.
 */
export interface UserChannels {
  /**
   * Adds `channel` to the set of each of `userIds`, in one round trip, except for users whose set already holds
   * `maxPerUser` other channels: resolves with those users' ids (in the order given; `[]` when every user has the
   * channel now). Idempotent: a user who has the channel already keeps it and is never refused. Atomic per user:
   * concurrent adds from several dispatchers never take a set past `maxPerUser`.
   */
  add(channel: string, userIds: readonly string[], maxPerUser: number): Promise<string[]>
  /** Removes `channel` from the set of each of `userIds`, in one round trip. Idempotent. */
  remove(channel: string, userIds: readonly string[]): Promise<void>
  /** The user's channels, in no particular order; `[]` for a user with none. */
  channelsOf(userId: string): Promise<string[]>
}
