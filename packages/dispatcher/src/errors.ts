import { MesaError } from '@mesa/core'

export type DispatchErrorCode = 'invalid-message' | 'invalid-recipients' | 'invalid-event'

/** `dispatch()` or `DispatchEvent` got an argument it cannot send; nothing was stored or published. */
export class DispatchError extends MesaError {
  declare readonly code: DispatchErrorCode

  constructor(code: DispatchErrorCode, message: string) {
    super(code, message)
  }
}

/** The dispatcher is closed: it sends nothing more. */
export class DispatcherClosedError extends MesaError {
  constructor() {
    super('dispatcher-closed', 'the dispatcher is closed')
  }
}
