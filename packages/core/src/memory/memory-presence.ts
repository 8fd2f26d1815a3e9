import type { ChannelMembers, Presence } from '../adapter/presence.js'

/** Adds `socketId` under `key`; true when `key` had none before. */
function add(map: Map<string, Set<string>>, key: string, socketId: string): boolean {
  const set = map.get(key)
  if (set) {
    set.add(socketId)
    return false
  }
  map.set(key, new Set([socketId]))
  return true
}

/** Removes `socketId` from `key`; true when that was its last one. */
function remove(map: Map<string, Set<string>>, key: string, socketId: string): boolean {
  const set = map.get(key)
  if (!set?.delete(socketId) || set.size > 0) return false
  map.delete(key)
  return true
}

/** Presence for one process: user id -> the ids of their online sockets; channel -> user id -> socket ids. */
export class MemoryPresence implements Presence {
  private readonly sockets = new Map<string, Set<string>>()
  private readonly channels = new Map<string, Map<string, Set<string>>>()

  async join(userId: string, socketId: string): Promise<void> {
    add(this.sockets, userId, socketId)
  }

  async leave(userId: string, socketId: string): Promise<void> {
    remove(this.sockets, userId, socketId)
  }

  async areOnline(userIds: readonly string[]): Promise<boolean[]> {
    return userIds.map((id) => this.sockets.has(id))
  }

  async onlineCount(): Promise<number> {
    return this.sockets.size
  }

  async joinChannel(channel: string, userId: string, socketId: string): Promise<boolean> {
    let users = this.channels.get(channel)
    if (users === undefined) {
      users = new Map()
      this.channels.set(channel, users)
    }
    return add(users, userId, socketId)
  }

  async leaveChannel(channel: string, userId: string, socketId: string): Promise<boolean> {
    const users = this.channels.get(channel)
    if (users === undefined) return false
    const left = remove(users, userId, socketId)
    if (users.size === 0) this.channels.delete(channel)
    return left
  }

  async channelMembers(channel: string): Promise<ChannelMembers> {
    const users = [...(this.channels.get(channel)?.keys() ?? [])]
    return { users, count: users.length }
  }

  /** Forgets every socket (the adapter closed). */
  clear(): void {
    this.sockets.clear()
    this.channels.clear()
  }
}
