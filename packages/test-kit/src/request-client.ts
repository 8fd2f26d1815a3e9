import type { RawClient, WireFrame } from './raw-client.js'

/**
 * Protocol 2's frames that expect an answer, spoken over a `RawClient`: each sends a frame with `x.id` and
 * resolves with the op 41 whose `x.re` is that id (or rejects once the socket closed without one). Ids are the
 * caller's: tests choose them, to send the same one again or a wrong one on purpose.
 */

/** Resolves with the op 41 answering `id` that arrives after frame number `since` (default: any received). */
export async function replyTo(client: RawClient, id: number, since = 0, timeoutMs?: number): Promise<WireFrame> {
  let reply: WireFrame | undefined
  await client.waitFor(
    `op 41 answering ${id}`,
    () => {
      reply = client.frames.slice(since).find((f) => f.op === 41 && f.x?.re === id)
      return reply !== undefined || client.closeCode !== undefined
    },
    timeoutMs,
  )
  if (!reply) throw new Error(`closed before answering ${id} (${client.closeCode} ${client.closeReason})`)
  return reply
}

/** Sends `frame` (its `x.id` set to `id`) and resolves with its answer. */
export function exchange(client: RawClient, frame: WireFrame, id: number, timeoutMs?: number): Promise<WireFrame> {
  const since = client.frames.length
  client.send({ ...frame, x: { ...frame.x, id } })
  return replyTo(client, id, since, timeoutMs)
}

/**
 * Authenticates (op 2, waiting for op 22) as client instance `cid` (`x.cid`), which acknowledged sends need.
 * Resolves with op 22.
 */
export async function authenticateInstance(client: RawClient, data: Record<string, unknown>, cid: string): Promise<WireFrame> {
  const since = client.frames.length
  client.send({ op: 2, d: data, x: { cid } })
  let ack: WireFrame | undefined
  await client.waitFor('op 22', () => {
    ack = client.frames.slice(since).find((f) => f.op === 22)
    return ack !== undefined || client.closeCode !== undefined
  })
  if (!ack) throw new Error(`closed before authentication (${client.closeCode} ${client.closeReason})`)
  return ack
}

/** A request (op 40) of `type`; resolves with its op 41. */
export function sendRequest(client: RawClient, type: string, data: Record<string, unknown>, id: number): Promise<WireFrame> {
  return exchange(client, { op: 40, t: type, d: data }, id)
}

/** An acknowledged send (op 0 with `x.id`); resolves with its op 41. */
export function sendAcked(client: RawClient, type: string, data: Record<string, unknown>, id: number): Promise<WireFrame> {
  return exchange(client, { op: 0, t: type, d: data }, id)
}

/** A re-authentication on the open socket (op 2 with `x.refresh`); resolves with its op 41. */
export function refresh(client: RawClient, data: Record<string, unknown>, id: number): Promise<WireFrame> {
  return exchange(client, { op: 2, d: data, x: { refresh: true } }, id)
}

/**
 * Answers the server's requests (op 40) from now on with what `answer` returns: `{ d, t? }` for a reply,
 * `{ err: { code, message } }` for a failure, undefined to leave it unanswered.
 */
export function answerRequests(
  client: RawClient,
  answer: (frame: WireFrame) => { d: Record<string, unknown>; t?: string } | { err: { code: string; message: string } } | undefined,
): void {
  client.ws.on('message', (data, isBinary) => {
    if (isBinary) return
    const frame = JSON.parse(String(data)) as WireFrame
    if (frame.op !== 40) return
    const answered = answer(frame)
    if (answered === undefined) return
    const re = frame.x?.id
    client.send('err' in answered ? { op: 41, d: {}, x: { re, err: answered.err } } : { op: 41, d: answered.d, t: answered.t, x: { re } })
  })
}
