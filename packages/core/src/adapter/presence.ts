/**
 * Which users are online, across every server sharing the adapter. A socket is named by `socketId`, unique
 * across servers; a user is online while any of their sockets is.
 */
export interface Presence {
  /** Marks one authenticated socket of `userId` online. */
  join(userId: string, socketId: string): Promise<void>
  /** Marks that socket gone; the user stays online while other sockets remain. */
  leave(userId: string, socketId: string): Promise<void>
  /** Online flags for many users in one round trip, in the order given. */
  areOnline(userIds: readonly string[]): Promise<boolean[]>
  /**
   * Number of distinct online users. Optional: nothing in a server's work needs it (an admin page shows it
   * when the adapter has it), and a store that cannot count cheaply leaves it out.
   */
  onlineCount?(): Promise<number>
  /**
   * Marks one socket of `userId` subscribed to `channel`. Resolves with true when it is the user's first socket on
   * the channel (the user joined it: the caller announces a join where the channel asks for it).
   */
  joinChannel(channel: string, userId: string, socketId: string): Promise<boolean>
  /** Marks that socket unsubscribed; resolves with true when it was the user's last one on the channel (a leave). */
  leaveChannel(channel: string, userId: string, socketId: string): Promise<boolean>
  /**
   * Who is subscribed to the channel across every server, with the liveness of user presence (the sockets of a
   * server that died are dropped once its liveness lapses). `users` are distinct user ids.
   */
  channelMembers(channel: string): Promise<ChannelMembers>
}

export interface ChannelMembers {
  users: string[]
  /** `users.length`. */
  count: number
}
