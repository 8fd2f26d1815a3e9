import { isStreamPosition, type ResumePositions, type StreamKind } from '../stream-position.js'

const KINDS: readonly StreamKind[] = ['user', 'global']

/**
 * The last delivered position in each redelivery stream. It makes delivery exactly-once on the client side
 * (a replayed or re-sent message at or below the position is dropped) and is what the session resumes from.
 */
export class StreamPositions {
  #current: ResumePositions = {}

  constructor(initial?: ResumePositions) {
    this.adopt(readPositions(initial))
  }

  /** A copy, safe to persist and to pass back as `positions` when creating a client later. */
  get snapshot(): ResumePositions {
    return readPositions(this.#current)
  }

  /**
   * Whether a message at `seq` of the stream is new; a new one advances the position. Messages of a stream
   * the session has no position in (the server announced none) are always new. `resuming`: the socket is
   * waiting for the answer to a resume; the replay that follows brings this message in order, so taking it
   * now would move the position past the messages missed before it.
   */
  accept(kind: StreamKind, seq: number, resuming?: boolean): boolean {
    const position = this.#current[kind]
    if (position) {
      if (resuming || seq <= position.seq) return false
      position.seq = seq
    }
    return true
  }

  /**
   * Takes the heads (validated, see `readPositions`) the server announced on authentication. A stream the
   * session asked to resume keeps its position when the server recovered it: the replay that follows moves it
   * up to the head. Every other stream, or every stream after a failed recovery, starts at the head: what came
   * before is not coming.
   */
  adopt(heads: ResumePositions, keep?: ResumePositions): void {
    for (const kind of KINDS) {
      const head = heads[kind]
      const kept = keep?.[kind]
      if (head && !(kept && kept.epoch === head.epoch && kept.seq <= head.seq)) this.#current[kind] = { ...head }
    }
  }
}

/**
 * Copies of the valid stream positions in `value` (op 22's `x.streams`, or positions given by the application):
 * only `epoch` and `seq`, anything malformed left out.
 */
export function readPositions(value: unknown): ResumePositions {
  const out: ResumePositions = {}
  for (const kind of KINDS) {
    const position = (value as Record<string, unknown> | undefined)?.[kind]
    if (isStreamPosition(position)) out[kind] = { epoch: position.epoch, seq: position.seq }
  }
  return out
}
