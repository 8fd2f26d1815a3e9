import { MesaError } from '../errors.js'

/** The portal queue holds `limit` events no portal has finished handling; the event was not queued. */
export class PortalQueueFullError extends MesaError {
  readonly limit: number

  constructor(limit: number) {
    super(
      'portal-queue-full',
      `the portal queue already holds ${limit} unhandled events (maxPending); the event was not queued. ` +
        'Start a Portal without reportAllEvents (or check that the running ones finish their events), or raise maxPending.',
    )
    this.limit = limit
  }
}
