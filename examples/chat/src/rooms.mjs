import { randomUUID } from 'node:crypto'

/** Room names: short, lowercase, URL-safe, so they can be shown and typed as-is. */
const ROOM_NAME = /^[a-z0-9][a-z0-9-]{0,23}$/

export function isRoomName(value) {
  return typeof value === 'string' && ROOM_NAME.test(value)
}

/**
 * Chat rooms as recipient lists: a room is the set of user ids that joined it, and a message to the room is
 * one `mesa.send` to that list. Membership belongs to the user, not to a socket, so a member who is offline
 * stays a recipient and Mesa redelivers what they missed when they come back.
 *
 * A room store has these methods, all async so that a shared store (the gateway's Redis one) fits:
 * `join(room, user)` (false when the user is in `maxRoomsPerUser` rooms already), `leave(room, user)`,
 * `isMember(room, user)`, `members(room)`, `snapshot(room)` (`{ epoch, members, history }`),
 * `post(room, from, text)` (the stored message, with an `id` increasing within the room's `epoch`), `close()`.
 * This one keeps everything in the process.
 */
export class MemoryRooms {
  /**
   * @param {{ historySize?: number, maxRoomsPerUser?: number }} [options]
   *   historySize: messages kept per room for members who join later (default 50);
   *   maxRoomsPerUser: rooms one user may be in at once (default 20).
   */
  constructor({ historySize = 50, maxRoomsPerUser = 20 } = {}) {
    this.historySize = historySize
    this.maxRoomsPerUser = maxRoomsPerUser
    /** @type {Map<string, { members: Set<string>, history: object[], next: number, epoch: string }>} */
    this.rooms = new Map()
    /** @type {Map<string, Set<string>>} user id -> rooms */
    this.memberships = new Map()
  }

  async join(room, userId) {
    let joined = this.memberships.get(userId)
    if (joined?.has(room)) return true
    if (joined && joined.size >= this.maxRoomsPerUser) return false
    if (!joined) {
      joined = new Set()
      this.memberships.set(userId, joined)
    }
    joined.add(room)
    this.room(room).members.add(userId)
    return true
  }

  async leave(room, userId) {
    this.memberships.get(userId)?.delete(room)
    this.rooms.get(room)?.members.delete(userId)
  }

  async isMember(room, userId) {
    return this.rooms.get(room)?.members.has(userId) ?? false
  }

  async members(room) {
    return [...(this.rooms.get(room)?.members ?? [])]
  }

  async snapshot(room) {
    const state = this.room(room)
    return { epoch: state.epoch, members: [...state.members], history: state.history.slice() }
  }

  async post(room, from, text) {
    const state = this.room(room)
    const message = { id: state.next++, epoch: state.epoch, room, from, text, at: Date.now() }
    state.history.push(message)
    if (state.history.length > this.historySize) state.history.shift()
    return message
  }

  async close() {}

  room(name) {
    let state = this.rooms.get(name)
    if (!state) {
      // The epoch names this history: ids start again at 1 when a new process starts the room afresh.
      state = { members: new Set(), history: [], next: 1, epoch: randomUUID().slice(0, 8) }
      this.rooms.set(name, state)
    }
    return state
  }
}
