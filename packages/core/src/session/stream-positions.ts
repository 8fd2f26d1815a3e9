import { isStreamPosition, type ResumePositions, type StreamKind } from '../stream-position.js'

/** The redelivery streams a client has a position in. */
export const STREAM_KINDS: readonly StreamKind[] = ['user', 'global']

/**
 * Copies of the valid stream positions in `value` (op 22's `x.streams`, positions given by the application, or
 * the session's own when it hands them out): only `epoch` and `seq`, anything malformed left out.
 */
export function readPositions(value: unknown): ResumePositions {
  const out: ResumePositions = {}
  for (const kind of STREAM_KINDS) {
    const position = (value as Record<string, unknown> | undefined)?.[kind]
    if (isStreamPosition(position)) out[kind] = { epoch: position.epoch, seq: position.seq }
  }
  return out
}
