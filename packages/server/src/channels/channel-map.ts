import type { MessageMap, MessageOf } from '@mesa/core'

/** Channels mapped to the messages published on them: core's, shared with the clients. */
export type { ChannelMap } from '@mesa/core'

/** A message that may be published on channel `C` of the map `Channels`. */
export type PublicationOf<Channels, C extends keyof Channels> = Channels[C] extends infer M extends MessageMap<M>
  ? MessageOf<M>
  : never
