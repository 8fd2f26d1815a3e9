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
}
