import { isStreamPosition, type ResumePositions, type StreamKind } from '../stream-position.js'

const KINDS: readonly StreamKind[] = ['user', 'global']

/**
 * Whether a message at `seq` of a stream is new; a new one advances the stream's position in `positions`. This
 * makes delivery exactly-once on the client side (a replayed or re-sent message at or below the position is
 * dropped). Messages of a stream without a position (the server announced none) are always new. `resuming`:
 * the socket is waiting for the answer to a resume; the replay that follows brings this message in order, so
 * taking it now would move the position past the messages missed before it.
 */
export function acceptSequence(positions: ResumePositions, kind: StreamKind, seq: number, resuming?: boolean): boolean {
  const position = positions[kind]
  if (position) {
    if (resuming || seq <= position.seq) return false
    position.seq = seq
  }
  return true
}

/**
 * Takes into `positions` the heads (validated, see `readPositions`) the server announced on authentication. A
 * stream the session asked to resume keeps its position when the server recovered it: the replay that follows
 * moves it up to the head. Every other stream, or every stream after a failed recovery, starts at the head:
 * what came before is not coming.
 */
export function adoptHeads(positions: ResumePositions, heads: ResumePositions, keep?: ResumePositions): void {
  for (const kind of KINDS) {
    const head = heads[kind]
    const kept = keep?.[kind]
    if (head && !(kept && kept.epoch === head.epoch && kept.seq <= head.seq)) positions[kind] = { ...head }
  }
}

/**
 * Copies of the valid stream positions in `value` (op 22's `x.streams`, positions given by the application, or
 * the session's own when it hands them out): only `epoch` and `seq`, anything malformed left out.
 */
export function readPositions(value: unknown): ResumePositions {
  const out: ResumePositions = {}
  for (const kind of KINDS) {
    const position = (value as Record<string, unknown> | undefined)?.[kind]
    if (isStreamPosition(position)) out[kind] = { epoch: position.epoch, seq: position.seq }
  }
  return out
}
