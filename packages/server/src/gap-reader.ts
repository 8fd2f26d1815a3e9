import type { StreamPosition } from '@mesa/core'
import type { MessageStore, ReadResult } from '@mesa/core/server'

/** Reads a stream after a position; what socket deliveries use to fill gaps. */
export type GapReader = (stream: string, after: StreamPosition) => Promise<ReadResult>

/**
 * One store read per gap, however many sockets hit it: when envelopes arrive out of order, every socket of the
 * server that follows the global stream sees the same gap at the same position at once. Concurrent identical
 * reads share one request; nothing is kept once it settles.
 */
export function sharedGapReader(store: () => MessageStore): GapReader {
  const inFlight = new Map<string, Promise<ReadResult>>()
  return (stream, after) => {
    const key = `${stream}\n${after.epoch}\n${after.seq}`
    let read = inFlight.get(key)
    if (read === undefined) {
      read = store().readAfter(stream, { epoch: after.epoch, seq: after.seq })
      inFlight.set(key, read)
      const forget = (): void => {
        inFlight.delete(key)
      }
      read.then(forget, forget)
    }
    return read
  }
}
