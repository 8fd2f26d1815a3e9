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
 */
export class Rooms {
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

  /** Adds the user to the room; false when the user is already in `maxRoomsPerUser` other rooms. */
  join(room, userId) {
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

  leave(room, userId) {
    this.memberships.get(userId)?.delete(room)
    const state = this.rooms.get(room)
    if (!state) return
    state.members.delete(userId)
    if (state.members.size === 0) this.rooms.delete(room)
  }

  isMember(room, userId) {
    return this.rooms.get(room)?.members.has(userId) ?? false
  }

  /** The room's recipient list. */
  members(room) {
    return [...(this.rooms.get(room)?.members ?? [])]
  }

  history(room) {
    return this.rooms.get(room)?.history.slice() ?? []
  }

  /** The room's epoch: a new one each time the room is created, since its ids then start again at 1. */
  epoch(room) {
    return this.room(room).epoch
  }

  /** Records a message; its `id` orders it within the room's epoch. */
  post(room, from, text) {
    const state = this.room(room)
    const message = { id: state.next++, epoch: state.epoch, room, from, text, at: Date.now() }
    state.history.push(message)
    if (state.history.length > this.historySize) state.history.shift()
    return message
  }

  room(name) {
    let state = this.rooms.get(name)
    if (!state) {
      state = { members: new Set(), history: [], next: 1, epoch: randomUUID().slice(0, 8) }
      this.rooms.set(name, state)
    }
    return state
  }
}
