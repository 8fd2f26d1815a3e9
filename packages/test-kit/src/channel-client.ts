import type { Position, RawClient, WireFrame } from './raw-client.js'
import { exchange } from './request-client.js'

/**
 * Protocol 2 channels (op 30-34) spoken by a `RawClient`: subscribe and unsubscribe with `x.id`, the answers
 * (op 31, op 41, op 33), publications (op 0 with `x.ch`) and join/leave events (op 34). The raw client keeps a
 * position per channel (`channelPositions`: op 31's head, unless it recovered; then each publication's `s`) and
 * delivers each publication once, as a client library does.
 */

const lastIds = new WeakMap<RawClient, number>()

/** The next `x.id` of this client for channel frames (counting up from 1 per connection, as clients do). */
export function nextId(client: RawClient): number {
  const id = (lastIds.get(client) ?? 0) + 1
  lastIds.set(client, id)
  return id
}

export interface SubscribeOptions {
  /** op 30's `d`: what the authorize hook gets. Default `{}`. */
  params?: Record<string, unknown>
  /** Resume after this position (`x.since`); default: none, a new subscription. */
  since?: Position
  timeoutMs?: number
}

/** The frame answering the frame sent with `x.id` = `id` (op 31, or op 41), once it arrived. */
export function answerTo(client: RawClient, id: number): WireFrame | undefined {
  return client.frames.find((frame) => (frame.op === 31 || frame.op === 41) && frame.x?.re === id)
}

/** Sends op 30 with the next `x.id` and waits for its answer, op 31 or op 41 (or the close). */
async function ask(client: RawClient, frame: WireFrame, what: string, timeoutMs?: number): Promise<WireFrame> {
  const id = nextId(client)
  client.send({ ...frame, x: { ...frame.x, id } })
  let answer: WireFrame | undefined
  await client.waitFor(
    what,
    () => {
      answer = answerTo(client, id)
      return answer !== undefined || client.closeCode !== undefined
    },
    timeoutMs,
  )
  if (answer === undefined) throw new Error(`closed before ${what} was answered (${client.closeCode} ${client.closeReason})`)
  return answer
}

/**
 * Sends op 30 and resolves with its answer: op 31 (subscribed: `x.pos`, `x.recovered`, `x.reason`) or op 41
 * (refused: `x.err.code`, `x.err.message`).
 */
export function subscribe(client: RawClient, channel: string, options: SubscribeOptions = {}): Promise<WireFrame> {
  const frame: WireFrame = { op: 30, t: channel, d: options.params ?? {} }
  // Where the client stands: what it resumes from, or nothing.
  if (options.since) {
    client.channelPositions.set(channel, { ...options.since })
    frame.x = { since: options.since }
  } else {
    client.channelPositions.delete(channel)
  }
  return ask(client, frame, `the answer to op 30 ${channel}`, options.timeoutMs)
}

/** Sends op 32 and resolves with its answer (op 41, with `x.err` when refused). */
export function unsubscribe(client: RawClient, channel: string, timeoutMs?: number): Promise<WireFrame> {
  return exchange(client, { op: 32, t: channel, d: {} }, nextId(client), timeoutMs)
}

/** Frames of opcode `op` about `channel` (op 31, 33, 34: by `t`; op 0: by `x.ch`), in arrival order. */
export function channelFrames(client: RawClient, op: number, channel: string): WireFrame[] {
  return client.frames.filter((frame) => frame.op === op && (op === 0 ? frame.x?.ch === channel : frame.t === channel))
}

/** The publications of `channel` the application would see (each once). */
export function publications(client: RawClient, channel: string): WireFrame[] {
  return client.delivered.filter((frame) => frame.x?.ch === channel)
}

/** Waits until `count` publications of `channel` were delivered. */
export async function waitForPublications(client: RawClient, channel: string, count: number, timeoutMs?: number): Promise<WireFrame[]> {
  await client.waitFor(`${count} publications of ${channel}`, () => publications(client, channel).length >= count, timeoutMs)
  return publications(client, channel)
}

/** Waits for a frame of opcode `op` about `channel` (the `index`-th, default the first) and resolves with it. */
export async function waitForChannelFrame(
  client: RawClient,
  op: number,
  channel: string,
  index = 0,
  timeoutMs?: number,
): Promise<WireFrame> {
  await client.waitFor(`op ${op} #${index + 1} of ${channel}`, () => channelFrames(client, op, channel).length > index, timeoutMs)
  return channelFrames(client, op, channel)[index]!
}

/** Op 2's `x.ch` for resubscribing to these channels after a reconnect: each with the position it had, if any. */
export function resubscriptions(positions: ReadonlyMap<string, Position>, channels: readonly string[]): Record<string, Position | null> {
  const ch: Record<string, Position | null> = {}
  for (const channel of channels) ch[channel] = positions.get(channel) ?? null
  return ch
}
