// `@mesa/core/server`: what servers, portals, dispatchers and adapters are built from. For adapter authors and
// Mesa's own Node-side packages; applications need only the main entry (./index.ts), which also has every error
// class these throw. A name is exported from one entry only. Runs anywhere, like the main entry, but loads
// `@mesa/redis-adapter` at run time when asked to, which a browser bundle has no use for.

// The adapter contract (docs/adapters.md): the interfaces an adapter implements, and the envelopes it carries.
export type { Adapter, AdapterEvents, EnvelopeListener } from './adapter/adapter.js'
export {
  type ChannelEnvelope,
  type ChannelPresenceEnvelope,
  type DisconnectEnvelope,
  type DispatchEnvelope,
  type Envelope,
  isChannelEnvelope,
  type PublicationEnvelope,
  type ReplyEnvelope,
  type SubscriptionEnvelope,
} from './adapter/envelope.js'
export type { ChannelMembers, Presence } from './adapter/presence.js'
export {
  GLOBAL_STREAM,
  type MessageStore,
  type ReadResult,
  type RetainedEntries,
  type RetentionOptions,
  type StoreAppend,
  type StoredEntry,
  type StoreEntryInput,
  userStream,
} from './adapter/message-store.js'
export type {
  PortalConsumer,
  PortalConsumerOptions,
  PortalEvent,
  PortalHandler,
  PortalMembershipEvent,
  PortalMembershipListener,
  PortalQueue,
} from './adapter/portal-queue.js'
export type { Deduplicator, DeliveryClaim } from './adapter/deduplicator.js'
export type { UserChannels } from './adapter/user-channels.js'

// The in-memory adapter and its parts, with the defaults every adapter applies to the same options.
export { MemoryAdapter, type MemoryAdapterOptions } from './memory/memory-adapter.js'
export { MemoryPresence } from './memory/memory-presence.js'
export {
  DEFAULT_MAX_TOTAL_BYTES,
  MemoryMessageStore,
  type MemoryMessageStoreOptions,
  type MemoryRetentionOptions,
} from './memory/memory-message-store.js'
export {
  DEFAULT_CLAIM_TIMEOUT_MS,
  DEFAULT_MAX_PENDING,
  DEFAULT_MAX_PENDING_BYTES,
  DEFAULT_RETRY_DELAY_MS,
  MemoryPortalQueue,
  type MemoryPortalQueueOptions,
} from './memory/memory-portal-queue.js'
export { DEFAULT_MAX_CLAIMS, MemoryDeduplicator, type MemoryDeduplicatorOptions } from './memory/memory-deduplicator.js'
export { MemoryUserChannels } from './memory/memory-user-channels.js'
export { DEFAULT_MAX_AGE_MS, DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, resolveRetention } from './memory/retention.js'
export { checkPositiveInteger } from './check-number.js'

// Sending: a message encoded once and stored before anyone gets it, for a server and a dispatcher alike, and the
// input rules both apply (user ids, channel names).
export { ALL_AUTHENTICATED, isBroadcast, prepareDispatch, type PrepareDispatchOptions } from './dispatch/prepare-dispatch.js'
export {
  channelNameProblem,
  channelStream,
  MAX_CHANNEL_LENGTH,
  type PreparedPublication,
  preparePublication,
  type PreparePublicationOptions,
} from './dispatch/channels.js'
export { userIdsProblem } from './dispatch/user-ids.js'

// The codec of the side that validates what peers send and frames messages for many sockets.
export {
  encodeFrame,
  frameFromJson,
  frameToMessage,
  MAX_TYPE_LENGTH,
  type ParseResult,
  parseFrame,
  toSafeRecord,
} from './codec.js'
export { encodeMessage, GLOBAL_EXTENSION, withSequence } from './message.js'
export { InternalType, isWireOpcode } from './opcodes.js'
export { isSequence } from './stream-position.js'
export { encodeReplyFrame, exposedReplyError, type ReplyError, requestErrorOf } from './requests.js'

// Loading `@mesa/redis-adapter` for a Redis URL or connection options (server, Portal, Dispatcher).
export {
  createLoadedRedisAdapter,
  REDIS_ADAPTER_PACKAGE,
  type RedisAdapterRequester,
  type RedisConnection,
  redisAdapterLoader,
  redisAdapterLoadError,
  type ResolvedAdapter,
} from './adapter/resolve-adapter.js'
