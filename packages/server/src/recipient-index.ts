/**
 * Which sockets each authenticated user has on this server, so that a targeted send touches only its
 * recipients' sockets: O(recipients), never a scan of every connection.
 */
export class RecipientIndex<S> {
  private readonly byUser = new Map<string, Set<S>>()

  add(userId: string, socket: S): void {
    const sockets = this.byUser.get(userId)
    if (sockets) sockets.add(socket)
    else this.byUser.set(userId, new Set([socket]))
  }

  /** Removes the socket; returns true when it was the user's last one here. */
  remove(userId: string, socket: S): boolean {
    const sockets = this.byUser.get(userId)
    if (!sockets?.delete(socket)) return false
    if (sockets.size > 0) return false
    this.byUser.delete(userId)
    return true
  }

  get(userId: string): ReadonlySet<S> | undefined {
    return this.byUser.get(userId)
  }
}
