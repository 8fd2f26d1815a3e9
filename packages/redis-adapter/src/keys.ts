import { ConfigError } from '@mesa/core'

/**
 * Every key and channel of one namespace. All start with `mesa:<namespace>:`, so two namespaces never share
 * one. The part in braces is the Redis Cluster hash tag: keys a script touches together share it (one
 * slot), while separate streams and channels get different tags so the load spreads over the shards.
 */
export interface RedisKeys {
  readonly namespace: string
  /** The entries of a redelivery stream (a Redis stream whose ids are `<seq>-0`). */
  streamEntries(stream: string): string
  /** The head of a redelivery stream: hash `{ epoch, seq }`, kept when the entries are trimmed. */
  streamHead(stream: string): string
  /** Named cursors of a redelivery stream: hash name -> seq. */
  streamCursors(stream: string): string
  /** Set of the ids of servers that registered sockets. */
  readonly presenceServers: string
  /** Hash user id -> number of online sockets, across servers. */
  readonly presenceUsers: string
  /** Hash socket id -> user id of one server. */
  presenceSockets(serverId: string): string
  /** The server's liveness key, expiring after the presence TTL unless refreshed. */
  presenceAlive(serverId: string): string
  /** The portal event stream. */
  readonly portalEvents: string
  /** The bytes of the events the portal event stream holds (see `maxPendingBytes`). */
  readonly portalEventsBytes: string
  /** Sorted set of the portals consuming the queue, scored by when their liveness lapses. */
  readonly portalMembers: string
  /** Hash `{ epoch, version }` numbering the membership changes. */
  readonly portalMembersVersion: string
  /** Channel announcing each membership change (a shard channel on a Cluster). */
  readonly portalMembershipChannel: string
  /** Replication channel `index` (0-based): the bus of every envelope that is not a channel envelope. */
  replicationChannel(index: number): string
  /** The pub/sub channel of a Mesa channel: its publications and presence envelopes, for its followers only. */
  channel(name: string): string
  /** Hash user id -> number of their sockets on the channel, across servers. */
  channelUsers(name: string): string
  /** Hash socket id -> user id of the channel's sockets one server registered (under one incarnation of it). */
  channelSockets(name: string, incarnation: string): string
  /** Set of the channels a server registered sockets on, each entry `<incarnation><channel>`. */
  presenceChannels(serverId: string): string
  /** Set of `<incarnation><channel>` entries of dead or superseded registrations, for any server to sweep. */
  readonly presenceOrphans: string
  /** What the deduplicator knows of one acknowledged client message (`busy` or `done`, with a TTL). */
  dedupe(key: string): string
  /** Set of the channels a user was subscribed to from backends (`Adapter.userChannels`); a slot per user. */
  channelSubscriptions(userId: string): string
}

export function validateNamespace(namespace: string): string {
  if (typeof namespace !== 'string' || namespace.length === 0 || namespace.length > 128) {
    throw new ConfigError('namespace must be a string of 1 to 128 characters')
  }
  if (/[{}]/.test(namespace)) {
    throw new ConfigError(`namespace must not contain braces (they delimit Redis Cluster hash tags): "${namespace}"`)
  }
  return namespace
}

export function createKeys(namespace: string): RedisKeys {
  const base = `mesa:${validateNamespace(namespace)}`
  const presence = `${base}:presence:{${namespace}:presence}`
  const portal = `${base}:portal:{${namespace}:portal}`
  const stream = (name: string, part: string) => `${base}:stream:{${namespace}:${name}}:${part}`
  // A channel's pub/sub channel and its presence keys share one hash tag: one shard serves all of a channel.
  const channel = (name: string) => `${base}:ch:{${namespace}:ch:${name}}`
  return {
    namespace,
    streamEntries: (name) => stream(name, 'e'),
    streamHead: (name) => stream(name, 'h'),
    streamCursors: (name) => stream(name, 'c'),
    presenceServers: `${presence}:servers`,
    presenceUsers: `${presence}:users`,
    presenceSockets: (serverId) => `${presence}:sockets:${serverId}`,
    presenceAlive: (serverId) => `${presence}:alive:${serverId}`,
    presenceChannels: (serverId) => `${presence}:channels:${serverId}`,
    presenceOrphans: `${presence}:orphans`,
    // One hash tag for the queue and its membership: a Cluster script may only touch keys and shard channels of
    // its own slot.
    portalEvents: `${portal}:events`,
    portalEventsBytes: `${portal}:events-bytes`,
    portalMembers: `${portal}:members`,
    portalMembersVersion: `${portal}:members-version`,
    portalMembershipChannel: `${portal}:membership`,
    replicationChannel: (index) => `${base}:bus:{${namespace}:bus:${index}}`,
    channel,
    channelUsers: (name) => `${channel(name)}:users`,
    channelSockets: (name, incarnation) => `${channel(name)}:sockets:${incarnation}`,
    dedupe: (key) => `${base}:dedupe:{${namespace}:dedupe:${key}}`,
    channelSubscriptions: (userId) => `${base}:channel-subscriptions:{${namespace}:cs:${userId}}`,
  }
}
