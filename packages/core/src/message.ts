
export interface MessageOptions {
  /** `false`: never stored for redelivery (typing indicators and the like). Default true. */
  sync?: boolean
}

/**
 * Names of message types mapped to their data, e.g. `{ NEW_MESSAGE: { content: string } }`. Type parameters
 * are constrained by `MessageMap<M>`, so an `interface` works as well as a type alias: an interface has no
 * index signature and would not extend `{ [type: string]: object }`.
 */
export type MessageMap<M = { [type: string]: object }> = { [K in keyof M]: object }

export type AnyMessageData = Record<string, unknown>

/**
 * Channels mapped to the messages published on them, by name or by template-literal pattern:
 * `{ [room: `room:${string}`]: { NEW_MESSAGE: { text: string } }; news: { HEADLINE: { title: string } } }`.
 * Constrained like `MessageMap`, so an `interface` works as well as a type alias. The default takes any channel
 * and any message.
 */
export type ChannelMap<C = { [channel: string]: MessageMap }> = { [K in keyof C]: MessageMap<C[K]> }

/**
 * One Mesa message. Construction mirrors 1.x: `new Message(0, { content: 'Hey!' }, 'NEW_MESSAGE')`.
 */
export class Message<T extends string = string, D extends object = AnyMessageData> {
  // `declare`: assigned in the constructor, so field declarations would only add bytes to browser bundles.
  declare readonly opcode: number
  declare readonly data: D
  declare readonly type: T | undefined
  declare readonly options: Required<MessageOptions>
  /** Position in the message's redelivery stream, when it has one. */
  declare sequence: number | undefined

  constructor(opcode: number, data: D, type?: T, options: MessageOptions = {}, sequence?: number) {
    this.opcode = opcode
    this.data = data
    this.type = type
    this.options = { sync: options.sync ?? true }
    this.sequence = sequence
  }

  /** The 1.x JSON frame (`toJSON`'s fields). */
  serialize(): string {
    return JSON.stringify(this)
  }

  /**
   * The frame's fields; an absent type or sequence is undefined, which JSON leaves out. `o` is written only when
   * it differs from the default, as 1.x peers expect it absent.
   */
  toJSON(): { op: number; d: D; t?: T; s?: number; o?: { sync: false } } {
    return { op: this.opcode, d: this.data, t: this.type, s: this.sequence, o: this.options.sync ? undefined : { sync: false } }
  }
}

/** A message of any of the types in `M`, discriminated by `type`. */
export type MessageOf<M extends MessageMap<M>> = { [K in keyof M & string]: Message<K, M[K]> }[keyof M & string]

/**
 * Encodes a message into one frame (`Message#toJSON`) with `sequence` for `s`; callers that send one message to
 * many sockets call this once.
 */
export function encodeMessage(message: Message<string, object>, sequence?: number): string {
  return JSON.stringify({ ...message.toJSON(), s: sequence })
}

/** `x` of an op 0 in the global stream, for protocol 2 sockets (absent: the user's own stream). */
export const GLOBAL_EXTENSION = '{"st":"g"}'

/**
 * Adds a sequence number (and v2 frame extensions) to an encoded frame without re-serializing its data:
 * per-recipient sequence numbers then cost one string concatenation, not a JSON.stringify.
 */
export function withSequence(frame: string, sequence: number, extensions?: string): string {
  return `${frame.slice(0, -1)},"s":${sequence}${extensions === undefined ? '' : `,"x":${extensions}`}}`
}
