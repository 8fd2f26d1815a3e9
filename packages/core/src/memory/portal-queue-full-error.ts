import { MesaError } from '../errors.js'

/** The bound of the portal queue that was reached: its count of unhandled events, or their bytes. */
export type PortalQueueBound = 'maxPending' | 'maxPendingBytes'

/**
 * The portal queue holds `limit` events (or bytes of events) no portal has finished handling; the event was not
 * queued.
 */
export class PortalQueueFullError extends MesaError {
  readonly limit: number
  readonly bound: PortalQueueBound

  constructor(limit: number, bound: PortalQueueBound = 'maxPending') {
    super(
      'portal-queue-full',
      `${
        bound === 'maxPending'
          ? `the portal queue already holds ${limit} unhandled events (maxPending)`
          : `the portal queue would hold more than ${limit} bytes of unhandled events (maxPendingBytes)`
      }; the event was not queued. Start a Portal without reportAllEvents (or check that the running ones finish ` +
        `their events), or raise ${bound}.`,
    )
    this.limit = limit
    this.bound = bound
  }
}
