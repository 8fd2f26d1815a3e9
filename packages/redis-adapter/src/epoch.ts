import { randomBytes } from 'node:crypto'

/** Random bytes of an epoch: 24 hex characters. */
const EPOCH_BYTES = 12
/**
 * Epochs drawn from one `randomBytes` call. Every append and read hands its script a candidate epoch (used only
 * when the stream's head is missing), and a synchronous `randomBytes` call costs microseconds whatever its size:
 * one per publication was a few percent of a server's CPU in `pnpm bench`'s channels comparison.
 */
const POOL_EPOCHS = 256

let pool = Buffer.alloc(0)
let offset = 0

/** A new random epoch, as random as `randomBytes(12)` (the same source, drawn in bulk). */
export function newEpoch(): string {
  if (offset === pool.length) {
    pool = randomBytes(EPOCH_BYTES * POOL_EPOCHS)
    offset = 0
  }
  const epoch = pool.toString('hex', offset, offset + EPOCH_BYTES)
  offset += EPOCH_BYTES
  return epoch
}
