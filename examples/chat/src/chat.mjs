import { Message } from '@mesa/server'
import { isRoomName, MemoryRooms } from './rooms.mjs'

/** User names double as user ids: the demo has no accounts, a name is who you are. */
const USER_NAME = /^[A-Za-z0-9_.-]{1,24}$/
const MAX_TEXT = 2000

/**
 * The chat's server side, on any Mesa server: authentication by name, rooms as recipient lists, messages
 * stored for redelivery, typing indicators sent with `sync: false` (stale the moment they are missed, so
 * never stored or replayed).
 *
 * Client -> server (op 0): JOIN { room }, LEAVE { room }, SAY { room, text }, TYPING { room, typing }.
 * Server -> client: ROOM { room, epoch, members, history }, MEMBER { room, user, joined }, NEW_MESSAGE { id, epoch,
 * room, from, text, at }, TYPING { room, user, typing }, CHAT_ERROR { reason }.
 *
 * @param {import('@mesa/server').default} mesa
 * @param {{ rooms?: MemoryRooms, log?: (level: string, msg: string, fields?: object) => void }} [options]
 *   rooms: the room store (default: a `MemoryRooms`, this process only).
 */
export function attachChat(mesa, { rooms = new MemoryRooms(), log = () => {} } = {}) {
  const send = (message, recipients, excluding) => {
    if (recipients.length === 0) return
    mesa.send(message, recipients, excluding).catch((error) => {
      log('error', 'send failed', { type: message.type, error: String(error?.message ?? error) })
    })
  }

  mesa.on('connection', (client) => {
    /** Set once authenticated; messages before that are refused. */
    let user
    /** One message at a time per socket, so a client's messages take effect in the order it sent them. */
    let handling = Promise.resolve()

    client.authenticate((data, done) => {
      const name = data?.name
      if (typeof name !== 'string' || !USER_NAME.test(name)) {
        // expose: the reason is meant for the client (the server shows it only then).
        done(Object.assign(new Error('a name is 1-24 letters, digits, "_", "." or "-"'), { expose: true }))
        return
      }
      user = name
      log('info', 'authenticated', { user })
      done(null, { id: name, user: { name } })
    })

    const reply = (data, type) => {
      client.send(new Message(0, data, type, { sync: false })).catch(() => {})
    }

    async function handle(message) {
      if (user === undefined) return reply({ reason: 'authenticate first' }, 'CHAT_ERROR')
      const data = message.data ?? {}
      const room = data.room
      if (!isRoomName(room)) return reply({ reason: 'a room name is 1-24 of a-z, 0-9 and "-"' }, 'CHAT_ERROR')

      switch (message.type) {
        case 'JOIN': {
          if (!(await rooms.join(room, user))) return reply({ reason: `at most ${rooms.maxRoomsPerUser} rooms` }, 'CHAT_ERROR')
          // A snapshot for this socket only: not stored, since a later JOIN fetches it again.
          reply({ room, ...(await rooms.snapshot(room)) }, 'ROOM')
          send(new Message(0, { room, user, joined: true }, 'MEMBER'), await rooms.members(room), [user])
          return
        }
        case 'LEAVE': {
          if (!(await rooms.isMember(room, user))) return
          await rooms.leave(room, user)
          send(new Message(0, { room, user, joined: false }, 'MEMBER'), await rooms.members(room))
          return
        }
        case 'SAY': {
          const text = typeof data.text === 'string' ? data.text.trim() : ''
          if (text.length === 0 || text.length > MAX_TEXT) {
            return reply({ reason: `a message is 1-${MAX_TEXT} characters` }, 'CHAT_ERROR')
          }
          if (!(await rooms.isMember(room, user))) return reply({ reason: `join ${room} first` }, 'CHAT_ERROR')
          const posted = await rooms.post(room, user, text)
          send(new Message(0, posted, 'NEW_MESSAGE'), await rooms.members(room))
          return
        }
        case 'TYPING': {
          if (!(await rooms.isMember(room, user))) return
          const typing = { room, user, typing: data.typing === true }
          send(new Message(0, typing, 'TYPING', { sync: false }), await rooms.members(room), [user])
          return
        }
        default:
          return reply({ reason: `unknown message type ${String(message.type)}` }, 'CHAT_ERROR')
      }
    }

    client.on('message', (message) => {
      handling = handling
        .then(() => handle(message))
        .catch((error) => {
          // A failing room store (Redis down) costs this message, not the process.
          log('error', 'chat message failed', { user, type: message.type, error: String(error?.message ?? error) })
          reply({ reason: 'the chat could not handle that; try again' }, 'CHAT_ERROR')
        })
    })
  })

  return rooms
}
