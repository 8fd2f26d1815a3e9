import { MesaError } from '@mesa/core'

export type DispatchErrorCode = 'invalid-message' | 'invalid-recipients' | 'invalid-event' | 'invalid-channel'

/**
 * `dispatch()`, `publish()`, `subscribe()`, `unsubscribe()` or `DispatchEvent` got an argument it cannot send;
 * nothing was stored or published.
 */
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

/**
 * `subscribe()` could not subscribe these users (`userIds`): each already holds `maxChannelsPerUser` channels from
 * backends. The other users of the call were subscribed.
 */
export class ChannelLimitError extends MesaError {
  declare readonly code: 'too-many-channels'
  readonly userIds: string[]

  constructor(channel: string, userIds: string[], max: number) {
    const named = userIds.slice(0, 5).map((id) => JSON.stringify(id)).join(', ')
    const more = userIds.length > 5 ? ` and ${userIds.length - 5} more` : ''
    super(
      'too-many-channels',
      `not subscribed to ${channel}: users ${named}${more} are subscribed to ${max} channels already (maxChannelsPerUser)`,
    )
    this.userIds = userIds
  }
}
