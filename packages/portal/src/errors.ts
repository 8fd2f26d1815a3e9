import { MesaError } from '@mesa/core'
import type { PortalEvent } from '@mesa/core/server'

/**
 * A listener threw or the `handler` rejected: the event was not acknowledged and the queue gives it again
 * (to this portal or another). `event` is the event as the server queued it; `cause` is what was thrown.
 */
export class PortalHandlerError extends MesaError {
  readonly event: PortalEvent

  constructor(event: PortalEvent, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    super('handler-failed', `handling the portal ${event.kind} event of client ${event.clientId} failed: ${reason}`, {
      cause,
    })
    this.event = event
  }
}

/** The portal is closed: it takes no events and cannot be started again. */
export class PortalClosedError extends MesaError {
  constructor() {
    super('portal-closed', 'the portal is closed')
  }
}
