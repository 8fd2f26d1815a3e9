import type { UserChannels } from '../adapter/user-channels.js'

/** Backend subscriptions for one process: user id -> their channels. */
export class MemoryUserChannels implements UserChannels {
  private readonly sets = new Map<string, Set<string>>()

  async add(channel: string, userIds: readonly string[], maxPerUser: number): Promise<string[]> {
    const full: string[] = []
    for (const userId of userIds) {
      const set = this.sets.get(userId) ?? new Set<string>()
      if (set.has(channel)) continue
      if (set.size >= maxPerUser) {
        full.push(userId)
        continue
      }
      set.add(channel)
      this.sets.set(userId, set)
    }
    return full
  }

  async remove(channel: string, userIds: readonly string[]): Promise<void> {
    for (const userId of userIds) {
      const set = this.sets.get(userId)
      if (set?.delete(channel) && set.size === 0) this.sets.delete(userId)
    }
  }

  async channelsOf(userId: string): Promise<string[]> {
    return [...(this.sets.get(userId) ?? [])]
  }

  /** Forgets every set (the adapter closed). */
  clear(): void {
    this.sets.clear()
  }
}
