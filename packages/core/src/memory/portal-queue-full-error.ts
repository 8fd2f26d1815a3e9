import { MesaError } from '../errors.js'

/** The portal queue holds `limit` events no portal has taken yet; the event was not queued. */
export class PortalQueueFullError extends MesaError {
  readonly limit: number

  constructor(limit: number) {
    super(
      'portal-queue-full',
      `the portal queue already holds ${limit} events waiting for a portal (maxPending); the event was not queued. ` +
        'Start a Portal without reportAllEvents, or raise maxPending.',
    )
    this.limit = limit
  }
}
