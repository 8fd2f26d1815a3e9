import type { AdapterHandle } from '../adapter-handle.js'
import type { Connection } from '../connection.js'
import { toError } from '../errors.js'
import type { Subscription } from './channel-registry.js'
import type { ChannelRules } from './channel-rules.js'

/**
 * Who is subscribed to which channel, in the adapter's presence (across servers, with its liveness), for the
 * channels whose rule has `presence`: an authenticated socket is recorded under its user id when its
 * subscription starts and removed when it ends. A user's first socket on a channel is a join, its last one
 * leaving a leave: on `joinLeave` channels they are announced (op 34).
 */
export class ChannelPresence {
  /** Leaves under way (and their announcements), so that a closing server lets them finish first. */
  private readonly leaving = new Set<Promise<void>>()

  constructor(
    private readonly adapter: AdapterHandle,
    private readonly rules: ChannelRules,
    /** Publishes a join or a leave (and writes it here); resolves once it is published. */
    private readonly announce: (channel: string, userId: string, joined: boolean) => Promise<void>,
    private readonly report: (error: Error, connection: Connection) => void,
  ) {}

  /**
   * Records the subscriber when the channel's rule asks for it (and the authorize hook did not opt it out).
   * Never rejects: a failure is reported and the subscription goes on without presence.
   */
  async join(connection: Connection, subscription: Subscription, wanted: boolean): Promise<void> {
    const userId = connection.userId
    const rule = this.rules.for(subscription.channel)
    if (!rule.presence || !wanted || userId === undefined) return
    // Set first, so that a `leave` while the call is under way undoes it.
    subscription.presence = userId
    try {
      const adapter = await this.adapter.get()
      const joined = await adapter.presence.joinChannel(subscription.channel, userId, connection.socketId)
      // Not waited for: the subscription's answer need not wait for the others to hear of it.
      if (joined && rule.joinLeave) {
        this.announce(subscription.channel, userId, true).catch((error: unknown) => this.report(toError(error), connection))
      }
    } catch (error) {
      this.report(toError(error), connection)
    }
  }

  /** The subscription ended: removes its record, announcing a leave when it was the user's last socket there. */
  leave(connection: Connection, subscription: Subscription): void {
    const userId = subscription.presence
    if (userId === undefined) return
    subscription.presence = undefined
    const { channel } = subscription
    const leaving = (async () => {
      const adapter = await this.adapter.get()
      const left = await adapter.presence.leaveChannel(channel, userId, connection.socketId)
      if (left && this.rules.for(channel).joinLeave) await this.announce(channel, userId, false)
    })().catch((error: unknown) => this.report(toError(error), connection))
    this.leaving.add(leaving)
    void leaving.then(() => this.leaving.delete(leaving))
  }

  /** Resolves once the leaves under way are recorded and announced. */
  async idle(): Promise<void> {
    await Promise.all(this.leaving)
  }
}
