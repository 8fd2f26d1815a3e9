import type { Adapter } from '../adapter/adapter.js'
import type { PublicationEnvelope } from '../adapter/envelope.js'
import { StoreError } from '../errors.js'
import { encodeMessage, type Message, type MessageMap, type MessageOf } from '../message.js'

/** A message that may be published on channel `C` of the map `Channels`. */
export type PublicationOf<Channels, C extends keyof Channels> = Channels[C] extends infer M extends MessageMap<M>
  ? MessageOf<M>
  : never

/** Longest channel name. */
export const MAX_CHANNEL_LENGTH = 256

/** Characters a channel name may use: letters, digits and `_ - : . @ / = , + ! ~`. */
const CHANNEL_NAME = /^[A-Za-z0-9_\-:.@/=,+!~]+$/

/** What is wrong with a channel name, or undefined when nothing is. */
export function channelNameProblem(channel: unknown): string | undefined {
  if (typeof channel !== 'string' || channel.length === 0) return 'a channel name must be a non-empty string'
  if (channel.length > MAX_CHANNEL_LENGTH) return `a channel name must be at most ${MAX_CHANNEL_LENGTH} characters`
  if (!CHANNEL_NAME.test(channel)) {
    return `channel ${JSON.stringify(channel.slice(0, 64))} has characters outside letters, digits and _ - : . @ / = , + ! ~`
  }
  return undefined
}

/** The redelivery stream of a channel. */
export function channelStream(channel: string): string {
  return `channel:${channel}`
}

export interface PreparePublicationOptions {
  /** Id of the server or dispatcher publishing. */
  origin: string
  /** Store it in the channel's stream first (the channel keeps history and the message is synced). */
  store: boolean
}

/** What `preparePublication` did: the envelope to deliver locally, and whether it was published already. */
export interface PreparedPublication {
  envelope: PublicationEnvelope
  /** True when the adapter stored and published it in one step (`Adapter.storeAndPublish`): publish it no more. */
  published: boolean
}

/**
 * Encodes a publication once and, when it is to be kept, appends it to the channel's stream before anyone can
 * receive it: once, whatever the number of subscribers. An adapter with `storeAndPublish` also publishes it in
 * that step. Resolves with the envelope to deliver locally (and publish, unless `published`); rejects with
 * `StoreError` when the store failed (then nobody got it).
 */
export async function preparePublication(
  adapter: Pick<Adapter, 'store' | 'storeAndPublish'>,
  channel: string,
  message: Message<string, object>,
  options: PreparePublicationOptions,
): Promise<PreparedPublication> {
  const frame = encodeMessage(message)
  const envelope: PublicationEnvelope = { kind: 'publication', origin: options.origin, channel, frame }
  if (!options.store || !message.options.sync) return { envelope, published: false }
  const stream = channelStream(channel)
  try {
    if (adapter.storeAndPublish !== undefined) {
      envelope.position = await adapter.storeAndPublish(stream, { frame }, envelope)
      return { envelope, published: true }
    }
    envelope.position = await adapter.store.append(stream, { frame })
  } catch (error) {
    if (error instanceof StoreError) throw error
    const detail = error instanceof Error ? error.message : String(error)
    throw new StoreError(`storing the publication in channel ${channel} failed: ${detail}`, { cause: error })
  }
  return { envelope, published: false }
}
