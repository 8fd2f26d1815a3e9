import { AdapterError, Message, RequestRejection, StoreError } from '@mesa/server'

/** User names double as user ids: the demo has no accounts, a name is who you are. */
const USER_NAME = /^[A-Za-z0-9_.-]{1,24}$/
/** Room names: short, lowercase, URL-safe, so they can be shown and typed as-is. */
const ROOM_NAME = /^[a-z0-9][a-z0-9-]{0,23}$/
const ROOM = 'room:'
const MAX_TEXT = 2000

/**
 * The channel rules the chat needs from its server: a room is the channel `room:<name>`, which keeps its history
 * (the default: late joiners read it, reconnecting members resume from it) and tells its subscribers who joins
 * and leaves (`joinLeave`, which records presence).
 */
export const CHAT_CHANNEL_RULES = { [ROOM]: { joinLeave: true } }

/** The channel of a room, or a refusal the client reads. */
function roomChannel(room) {
  if (typeof room !== 'string' || !ROOM_NAME.test(room)) {
    throw new RequestRejection('invalid-room', 'a room name is 1-24 of a-z, 0-9 and "-"')
  }
  return ROOM + room
}

/**
 * The chat's server side, on any Mesa server whose channel rules include `CHAT_CHANNEL_RULES`: authentication by
 * name, rooms as channels.
 *
 * - Joining a room is the page's own subscription to `room:<name>` (`client.subscribe`), which the authorize hook
 *   allows to any signed-in user for any room name. Mesa renews it after every reconnect, from the position the
 *   page had, so what the room said meanwhile arrives once each, in order; members are the channel's presence.
 * - `SAY { room, text }`, sent acknowledged: published as `NEW_MESSAGE { from, text, at }` on the room's channel,
 *   stored once in its stream. The page's `send` resolves when it was published (refused: `invalid-room`,
 *   `invalid-text`); a send the link lost is sent again and published once.
 * - `ROOM { room, history }`, a request from a member: `{ members }` (the channel's presence) and, when asked,
 *   `{ epoch, history }`: the channel's latest stored publications, for a page that has none of them yet.
 * - `TYPING { room, typing }` from a member: published as `TYPING { user, typing }` with `sync: false`, so it is
 *   never stored or replayed (stale the moment it is missed).
 *
 * @param {import('@mesa/server').default} mesa
 * @param {{ historySize?: number, log?: (level: string, msg: string, fields?: object) => void }} [options]
 *   historySize: the messages a page joining a room reads (default 50).
 */
export function attachChat(mesa, { historySize = 50, log = () => {} } = {}) {
  // Open rooms: any signed-in user may join any room. A closed room would ask the application's database here.
  mesa.channels.authorize((client, channel) => client.authenticated && channel.startsWith(ROOM) && ROOM_NAME.test(channel.slice(ROOM.length)))

  mesa.on('connection', (client) => {
    client.authenticate((data, done) => {
      const name = data?.name
      if (typeof name !== 'string' || !USER_NAME.test(name)) {
        // expose: the reason is meant for the client (the server shows it only then).
        done(Object.assign(new Error('a name is 1-24 letters, digits, "_", "." or "-"'), { expose: true }))
        return
      }
      log('info', 'authenticated', { user: name })
      done(null, { id: name, user: { name } })
    })
    client.on('message', (message) => {
      if (message.type === 'SAY') return say(client, message.data)
      if (message.type === 'TYPING') return typing(client, message.data)
      throw new RequestRejection('unknown-type', `unknown message type ${String(message.type)}`)
    })
  })

  /**
   * Publishes what a member said. Its promise is the acknowledgement: the page's send resolves once this did. Any
   * signed-in user may say something in any room, as anyone may join one: the check is not the socket's
   * subscription, which a send retransmitted after a reconnect can overtake while the page resubscribes.
   */
  async function say(client, data) {
    const channel = roomChannel(data?.room)
    const text = typeof data?.text === 'string' ? data.text.trim() : ''
    if (text.length === 0 || text.length > MAX_TEXT) throw new RequestRejection('invalid-text', `a message is 1-${MAX_TEXT} characters`)
    try {
      await mesa.publish(channel, new Message(0, { from: client.userId, text, at: Date.now() }, 'NEW_MESSAGE'))
    } catch (error) {
      // Stored, but not passed on to the other servers: their members get it with the room's next message or when
      // they resume. Published again, it would be in the room twice.
      if (error instanceof AdapterError) return log('warn', 'a message reached only this server', { channel, error: error.message })
      // Not stored, so nobody got it: `unavailable` makes the page send it again shortly (and it is handled once).
      if (error instanceof StoreError) throw new RequestRejection('unavailable', 'the message could not be stored; it is sent again')
      throw error
    }
  }

  function typing(client, data) {
    const channel = roomChannel(data?.room)
    // Only members tell a room they are typing; a stale indicator is not worth an error.
    if (!client.channels.includes(channel)) return
    mesa.publish(channel, new Message(0, { user: client.userId, typing: data.typing === true }, 'TYPING', { sync: false })).catch((error) => {
      log('warn', 'typing indicator lost', { channel, error: error.message })
    })
  }

  mesa.onRequest('ROOM', async (message, client) => {
    const channel = roomChannel(message.data?.room)
    if (!client.channels.includes(channel)) throw new RequestRejection('not-joined', `join ${message.data.room} first`)
    const [presence, history] = await Promise.all([
      mesa.presence(channel),
      message.data.history === true ? mesa.history(channel, { limit: historySize }) : undefined,
    ])
    if (history?.status !== 'ok') return { members: presence.users }
    const messages = history.messages.map((stored) => ({ seq: stored.sequence, ...stored.data }))
    return { members: presence.users, epoch: history.head.epoch, history: messages }
  })
}
