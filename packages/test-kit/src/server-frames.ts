import type { Frame } from '@mesa/core'

/**
 * Protocol 2 frames a server sends, for scripting a `ScriptedServer` in client tests (docs/architecture.md has
 * the protocol). Positions are `{ epoch, seq }`.
 */
export const serverFrames = {
  /** Op 22 answering an authentication, with stream heads and `recovered`. */
  authenticated(user: Record<string, unknown> = {}, x: Record<string, unknown> = { recovered: true }): Frame {
    return { op: 22, d: user, x }
  },
  /** Op 31: `re` answers an op 30; none answers op 2's `x.ch`; `srv` is a subscription made by the server. */
  subscribed(
    channel: string,
    x: { re?: number; pos?: { epoch: string; seq: number }; recovered?: boolean; reason?: string; srv?: true },
  ): Frame {
    return { op: 31, d: {}, t: channel, x: { recovered: true, ...x } }
  },
  /** Op 0 published on a channel, with its sequence in the channel's stream. */
  publication(channel: string, type: string, d: Record<string, unknown>, s?: number): Frame {
    return s === undefined ? { op: 0, d, t: type, x: { ch: channel } } : { op: 0, d, t: type, s, x: { ch: channel } }
  },
  /** Op 41 answering the frame whose `x.id` was `re`: a reply, or with `err` a failure. */
  reply(re: number, d: Record<string, unknown> = {}, t?: string): Frame {
    return t === undefined ? { op: 41, d, x: { re } } : { op: 41, d, t, x: { re } }
  },
  failure(re: number, code: string, message = code): Frame {
    return { op: 41, d: {}, x: { re, err: { code, message } } }
  },
  /** Op 40: a request of the server's. */
  request(id: number, type: string, d: Record<string, unknown> = {}): Frame {
    return { op: 40, d, t: type, x: { id } }
  },
}
