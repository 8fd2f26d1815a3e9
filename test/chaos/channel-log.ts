/**
 * What a subscription's application saw, as `packages/test-kit/fixtures/channel-clients.mjs` records it, and the
 * audit of it: in order, nothing twice, and no hole the client was not told about.
 */

/** A delivered publication: the publisher's number `n`, its sequence `s`, the subscription's epoch after it. */
type MessageEntry = ['m', n: number, s: number | null, epoch: string | null | undefined]
/** A `subscribed` event: recovered or not (why), and the channel's head it told. */
type SubscribedEntry = ['s', recovered: boolean, reason: string | null, epoch: string | null, seq: number | null]
type EndEntry = ['u', reason: string] | ['e', code: string]
export type LogEntry = MessageEntry | SubscribedEntry | EndEntry

export interface ClientRecord {
  user: string
  state: string
  connections: number
  errors: string[]
  channels: Record<string, LogEntry[]>
}

export interface Position {
  epoch: string
  seq: number
}

export interface Audit {
  /** Everything wrong, in words; empty when the log is right. */
  problems: string[]
  /** Reasons of the `subscribed` events that said `recovered: false`, in order. */
  resyncs: string[]
  /** Publications delivered. */
  delivered: number
  /** Where the subscription ended: its last publication (or the head it was told last). */
  at: Position | undefined
}

const where = (at: Position | undefined): string => (at === undefined ? 'nowhere' : `${at.epoch}:${at.seq}`)

/**
 * Follows the subscription through its log. Each publication must be the one right after where the subscription
 * stood, in the same epoch (`s` = last + 1): after a `subscribed` that recovered, where it was (the replay
 * follows); after the first one, or one that did not recover, the head it told. Publisher numbers go up from one
 * delivery to the next, unless a `recovered: false` came between (the history they were in is gone). A `recovered:
 * false` must give its reason. The subscription must not end.
 */
export function audit(log: readonly LogEntry[]): Audit {
  const problems: string[] = []
  const resyncs: string[] = []
  let at: Position | undefined
  let lastN = 0
  let delivered = 0
  for (const entry of log) {
    if (entry[0] === 's') {
      const [, recovered, reason, epoch, seq] = entry
      const head = epoch === null || seq === null ? undefined : { epoch, seq }
      if (!recovered) {
        resyncs.push(reason ?? 'none')
        if (reason === null) problems.push('recovered: false without a reason')
        lastN = 0
      }
      if (head === undefined) problems.push(`subscribed (recovered: ${recovered}) without the channel's head`)
      if (at === undefined || !recovered) at = head
      else if (head !== undefined && (head.epoch !== at.epoch || head.seq < at.seq)) {
        problems.push(`recovered at ${where(at)}, but the head it told is ${where(head)}`)
      }
    } else if (entry[0] === 'm') {
      const [, n, s, epoch] = entry
      delivered++
      if (n <= lastN) problems.push(`publication ${n} after ${lastN}: out of order or twice`)
      if (s === null || epoch == null) problems.push(`publication ${n} without a position (s ${s}, epoch ${epoch})`)
      else if (at === undefined) problems.push(`publication ${n} at ${epoch}:${s} from an unknown position`)
      else if (epoch !== at.epoch || s !== at.seq + 1) {
        problems.push(`hidden hole: publication ${n} at ${epoch}:${s} right after ${where(at)}`)
      }
      if (s !== null && epoch != null) at = { epoch, seq: s }
      lastN = n
    } else {
      problems.push(`the subscription ended: ${entry.join(' ')}`)
    }
  }
  return { problems, resyncs, delivered, at }
}

/** The publisher numbers a log delivered, in order. */
export function numbers(log: readonly LogEntry[]): number[] {
  return log.filter((entry): entry is MessageEntry => entry[0] === 'm').map((entry) => entry[1])
}
