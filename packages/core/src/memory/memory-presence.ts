import type { Presence } from '../adapter/presence.js'

/** Presence for one process: user id -> the ids of their online sockets. */
export class MemoryPresence implements Presence {
  private readonly sockets = new Map<string, Set<string>>()

  async join(userId: string, socketId: string): Promise<void> {
    const set = this.sockets.get(userId)
    if (set) set.add(socketId)
    else this.sockets.set(userId, new Set([socketId]))
  }

  async leave(userId: string, socketId: string): Promise<void> {
    const set = this.sockets.get(userId)
    if (!set) return
    set.delete(socketId)
    if (set.size === 0) this.sockets.delete(userId)
  }

  async areOnline(userIds: readonly string[]): Promise<boolean[]> {
    return userIds.map((id) => this.sockets.has(id))
  }

  async onlineCount(): Promise<number> {
    return this.sockets.size
  }

  /** Forgets every socket (the adapter closed). */
  clear(): void {
    this.sockets.clear()
  }
}
