import { Opcode, type StreamPosition } from '@mesa/core'
import { encodeFrame, withSequence } from '@mesa/core/server'
import type { ChannelErrorCode } from '../errors.js'

/**
 * The frames of protocol 2's channel opcodes the server sends (31, 33, 34; op 41 comes from
 * `requests/reply-frames.ts`). Channel names are restricted to characters JSON never escapes
 * (`channelNameProblem`), so a name is written as it is.
 */

/** `x` of a publication's op 0 for protocol 2 sockets: `{"ch":"<channel>"}`. */
export function channelExtension(channel: string): string {
  return `{"ch":"${channel}"}`
}

/**
 * The protocol 2 variant of a publication frame (as `encodeMessage` wrote it, without `s`): `x.ch`, and `s` when
 * it was stored. Built once per publication, however many sockets get it.
 */
export function publicationFrame(frame: string, extension: string, seq: number | undefined): string {
  return seq === undefined ? `${frame.slice(0, -1)},"x":${extension}}` : withSequence(frame, seq, extension)
}

/** How a subscription started: `x` of op 31. */
export interface SubscribedAnswer {
  /** The op 30 it answers. */
  re?: number
  /**
   * The head of the channel's stream when the subscription started (what a client that did not recover adopts);
   * absent when the channel keeps no history or the store could not be read.
   */
  pos?: StreamPosition | undefined
  recovered: boolean
  reason?: string | undefined
  /** A server-side subscription (the application, a Dispatcher): no op 30 asked for it. */
  srv?: true
}

export function subscribedFrame(channel: string, { re, pos, recovered, reason, srv }: SubscribedAnswer): string {
  // Undefined fields are left out, as JSON does.
  return encodeFrame({ op: Opcode.Subscribed, t: channel, d: {}, x: { re, pos, recovered, reason, srv } })
}

/**
 * The server ended a subscription (op 33). `code` is set when it refused one the client asked for in op 2's
 * `x.ch` (there is no op 30 to answer): one of the subscription error codes.
 */
export function unsubscribedFrame(channel: string, reason: string, code?: ChannelErrorCode): string {
  return encodeFrame({ op: Opcode.Unsubscribed, t: channel, d: {}, x: code === undefined ? { reason } : { reason, code } })
}

/** A user joined or left a channel (op 34). */
export function presenceFrame(channel: string, user: string, joined: boolean): string {
  return encodeFrame({ op: Opcode.Presence, t: channel, d: { user, joined } })
}
