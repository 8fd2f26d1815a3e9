import type { MessageMap, MessageOf } from '@mesa/core'

/**
 * Channels mapped to the messages published on them, by name or by template-literal pattern:
 * `{ [room: `room:${string}`]: { NEW_MESSAGE: { text: string } }; news: { HEADLINE: { title: string } } }`.
 * The default takes any channel and any message.
 */
export type ChannelMap<C = { [channel: string]: MessageMap }> = { [K in keyof C]: MessageMap<C[K]> }

/** A message that may be published on channel `C` of the map `Channels`. */
export type PublicationOf<Channels, C extends keyof Channels> = Channels[C] extends infer M extends MessageMap<M>
  ? MessageOf<M>
  : never
