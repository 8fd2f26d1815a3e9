// The chat page: plain ES modules, the browser client's single-file build, no framework.
import { Client, Message } from '/mesa.js'

const $ = (id) => document.getElementById(id)
const mesaPath = document.querySelector('meta[name="mesa-path"]')?.content ?? '/ws'
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${mesaPath}`

/** A room is the channel `room:<name>`. */
const ROOM = 'room:'
const GENERAL = 'general'

/**
 * room name -> { name, subscription, epoch, seqs: Set, messages (sorted by seq), members: Set, typing: Map<user,
 * timer>, unread, snapshots: Set<presence events seen while a snapshot is on its way> }
 */
const rooms = new Map()
let current = GENERAL
let me
let client
/** Acknowledged sends not acknowledged yet. */
let unsent = 0

/**
 * Every NEW_MESSAGE the client delivered, as `room:seq`, in delivery order: what Mesa guarantees (each stored
 * publication once, in order, across reconnects) can be checked from the devtools console. What a page reads from
 * a room's history when it joins is not a delivery and is not listed.
 */
window.chatDeliveries = []

function setState(state, label = state) {
  $('state').dataset.state = state
  $('state').textContent = label
}

/**
 * The badge follows the client's state and the browser's network flag together, whichever changed: after a
 * short network blip the socket may survive, and then no reconnect would ever put the badge back to online.
 */
function renderState() {
  if (!client) setState('signed-out', 'signed out')
  else if (!navigator.onLine) setState('offline', 'offline: waiting for the network')
  else if (client.state === 'authenticated') setState('online')
  else if (client.state === 'reconnecting') setState('reconnecting', 'reconnecting…')
  else if (client.state === 'closed') setState('disconnected')
  else setState('connecting')
}

function showError(text) {
  $('error').textContent = text
}

/** A room whose history is gone (a new epoch, trimmed while we were away) starts over here too. */
function startOver(room, epoch) {
  room.epoch = epoch
  room.seqs = new Set()
  room.messages = []
}

/**
 * Adds a message in sequence order; returns its index, or -1 when it is already shown (a history read overlaps
 * what the subscription delivered). Sequences order a room's messages whichever gateway published them.
 */
function addMessage(room, message) {
  if (room.seqs.has(message.seq)) return -1
  room.seqs.add(message.seq)
  let index = room.messages.length
  while (index > 0 && room.messages[index - 1].seq > message.seq) index--
  room.messages.splice(index, 0, message)
  if (room.name !== current) room.unread++
  return index
}

function renderRooms() {
  const list = $('rooms')
  list.replaceChildren(
    ...[...rooms.keys()].sort().map((name) => {
      const room = rooms.get(name)
      const button = document.createElement('button')
      button.type = 'button'
      button.textContent = `# ${name}`
      button.setAttribute('aria-current', String(name === current))
      if (room.unread > 0) {
        const badge = document.createElement('span')
        badge.className = 'unread'
        badge.textContent = String(room.unread)
        button.append(badge)
      }
      button.addEventListener('click', () => switchRoom(name))
      const item = document.createElement('li')
      item.append(button)
      return item
    }),
  )
}

function renderMessage(message) {
  const item = document.createElement('li')
  item.dataset.seq = String(message.seq)
  if (message.from === me) item.className = 'mine'
  const from = document.createElement('span')
  from.className = 'from'
  from.textContent = message.from
  const text = document.createElement('span')
  text.className = 'text'
  text.textContent = message.text
  const at = document.createElement('time')
  at.className = 'at'
  at.dateTime = new Date(message.at).toISOString()
  at.textContent = new Date(message.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
  item.append(from, text, at)
  return item
}

function renderMembers() {
  const members = [...(rooms.get(current)?.members ?? [])].sort()
  $('members').textContent = members.length > 0 ? `Members: ${members.join(', ')}` : ''
}

function renderRoom() {
  const room = rooms.get(current)
  if (!room) return
  room.unread = 0
  $('room-title').textContent = `# ${current}`
  $('leave-room').hidden = current === GENERAL
  renderMembers()
  $('messages').replaceChildren(...room.messages.map(renderMessage))
  $('messages').scrollTop = $('messages').scrollHeight
  renderTyping()
  renderRooms()
}

function renderTyping() {
  const typing = [...(rooms.get(current)?.typing.keys() ?? [])]
  $('typing').textContent =
    typing.length === 0 ? '' : `${typing.join(', ')} ${typing.length === 1 ? 'is' : 'are'} typing…`
}

function renderUnsent() {
  $('unsent').textContent = unsent === 0 ? '' : `sending ${unsent} message${unsent === 1 ? '' : 's'}…`
}

function switchRoom(name) {
  current = name
  renderRoom()
}

/** The rooms this tab is in, kept with its name so that a reload joins them again. */
const NAME_KEY = 'mesa-chat-name'
const ROOMS_KEY = 'mesa-chat-rooms'

function saveRooms() {
  sessionStorage.setItem(ROOMS_KEY, JSON.stringify([...rooms.keys()]))
}

/** A NEW_MESSAGE the room's subscription delivered: once each, in order, also after a reconnect. */
function delivered(room, message) {
  const seq = message.sequence
  window.chatDeliveries.push(`${room.name}:${seq}`)
  clearTimeout(room.typing.get(message.data.from))
  room.typing.delete(message.data.from)
  const index = addMessage(room, { seq, ...message.data })
  if (room.name !== current) return renderRooms()
  renderTyping()
  if (index === -1) return
  $('messages').insertBefore(renderMessage({ seq, ...message.data }), $('messages').children[index] ?? null)
  $('messages').scrollTop = $('messages').scrollHeight
}

function typingChanged(room, { user, typing }) {
  if (user === me) return
  clearTimeout(room.typing.get(user))
  if (typing) {
    // Typing indicators are never stored, so a lost "stopped typing" must not leave one up forever.
    room.typing.set(
      user,
      setTimeout(() => {
        room.typing.delete(user)
        if (room.name === current) renderTyping()
      }, 6000),
    )
  } else room.typing.delete(user)
  if (room.name === current) renderTyping()
}

function applyPresence(room, { user, joined }) {
  if (joined) room.members.add(user)
  else room.members.delete(user)
}

/**
 * Asks the server for the room's members (its channel's presence) and, for a page that has none of its
 * messages, its history. Join and leave events that arrive meanwhile are applied again on top of the answer,
 * which may predate them (each event says where a user is, so applying it twice changes nothing).
 */
async function loadRoom(room, history) {
  const session = client
  const seen = []
  room.snapshots.add(seen)
  try {
    const { data } = await session.request(new Message(0, { room: room.name, history }, 'ROOM'))
    if (session !== client || rooms.get(room.name) !== room) return
    room.members = new Set(data.members)
    for (const event of seen) applyPresence(room, event)
    if (data.history) {
      if (data.epoch !== room.epoch) startOver(room, data.epoch)
      for (const message of data.history) addMessage(room, message)
    }
    if (room.name === current) renderRoom()
    else renderRooms()
  } catch (error) {
    // A lost connection: the subscription is renewed on the next one, which asks again.
    if (error.code !== 'connection-lost' && session === client) showError(`#${room.name}: ${error.message}`)
  } finally {
    room.snapshots.delete(seen)
  }
}

/**
 * Joining a room is subscribing to its channel. The client keeps the subscription: after a reconnect it renews
 * it from the last message delivered, and the server replays what the room said meanwhile.
 */
function joinRoom(name) {
  if (rooms.has(name)) return
  const session = client
  const room = { name, epoch: undefined, seqs: new Set(), messages: [], members: new Set(), typing: new Map(), unread: 0, snapshots: new Set() }
  rooms.set(name, room)
  saveRooms()
  room.subscription = client.subscribe(`${ROOM}${name}`)
  // After a sign-out these objects belong to a client that is gone: what it still reports is ignored.
  const mine = () => session === client && rooms.get(name) === room
  room.subscription.on('subscribed', ({ recovered, position }) => {
    if (!mine()) return
    // The first time, or when what was missed is gone: the room's history. Otherwise the replay follows.
    const fresh = !recovered || room.epoch === undefined
    if (fresh) startOver(room, position?.epoch)
    // Joins and leaves while we were away were not kept: the members are asked for again either way.
    loadRoom(room, fresh)
  })
  room.subscription.on('message', (message) => {
    if (!mine()) return
    if (message.type === 'NEW_MESSAGE') delivered(room, message)
    else if (message.type === 'TYPING') typingChanged(room, message.data)
  })
  room.subscription.on('presence', (event) => {
    if (!mine()) return
    for (const seen of room.snapshots) seen.push(event)
    applyPresence(room, event)
    if (room.name === current) renderMembers()
  })
  room.subscription.on('error', (error) => {
    if (!mine()) return
    forget(name)
    showError(`Cannot join #${name}: ${error.message}`)
  })
}

function forget(name) {
  rooms.delete(name)
  saveRooms()
  if (current === name && rooms.has(GENERAL)) switchRoom(GENERAL)
  else renderRooms()
}

function leaveRoom(name) {
  rooms.get(name)?.subscription.unsubscribe().catch(() => {})
  forget(name)
}

/** Tells the room we are typing at most every 2 s, and that we stopped after 3 s without a key. */
let typingSentAt = 0
let typingStop
function typed() {
  if (client?.state !== 'authenticated') return
  const now = Date.now()
  if (now - typingSentAt > 2000) {
    typingSentAt = now
    client.send(new Message(0, { room: current, typing: true }, 'TYPING', { sync: false }))
  }
  clearTimeout(typingStop)
  typingStop = setTimeout(stoppedTyping, 3000)
}
function stoppedTyping() {
  clearTimeout(typingStop)
  if (typingSentAt === 0 || client?.state !== 'authenticated') return
  typingSentAt = 0
  client.send(new Message(0, { room: current, typing: false }, 'TYPING', { sync: false }))
}

/**
 * Says something, acknowledged: the client keeps the message until the server published it, through reconnects
 * (sent again with the same id, published once), and the promise says whether it was.
 */
function say(text) {
  const session = client
  let sent
  try {
    sent = session.send(new Message(0, { room: current, text }, 'SAY'), { ack: true })
  } catch (error) {
    // The client's queue is full (a long time offline).
    showError(error.message)
    return
  }
  unsent++
  renderUnsent()
  sent
    .catch((error) => {
      if (session !== client) return
      showError(`Not sent: ${error.message}`)
      if (!$('text').value) $('text').value = text
    })
    .finally(() => {
      if (session !== client) return
      unsent--
      renderUnsent()
    })
}

function signOut(reason = '') {
  const leaving = client
  client = undefined
  leaving?.disconnect()
  sessionStorage.removeItem(NAME_KEY)
  sessionStorage.removeItem(ROOMS_KEY)
  for (const room of rooms.values()) for (const timer of room.typing.values()) clearTimeout(timer)
  rooms.clear()
  current = GENERAL
  unsent = 0
  renderUnsent()
  $('chat').hidden = true
  $('sign-out').hidden = true
  $('me').textContent = ''
  $('login').hidden = false
  $('login-error').textContent = reason
  renderState()
  $('name').focus()
}

function start(name) {
  me = name
  sessionStorage.setItem(NAME_KEY, name)
  $('login').hidden = true
  $('chat').hidden = false
  $('sign-out').hidden = false
  $('me').textContent = name

  const session = new Client(wsUrl)
  client = session
  renderState()
  session.on('stateChange', (state) => {
    // The session's own state, for the curious (devtools) and for the end-to-end test.
    document.body.dataset.mesaState = state
    if (session === client) renderState()
  })
  session.on('error', (error) => console.warn('mesa:', error))
  session.authenticate({ name }).catch((error) => {
    // Closed or timed out: the client retries with the same name on its own. Rejected: ask again.
    if (error.code === 'rejected' && session === client) signOut(`Could not sign in as "${name}": ${error.message}`)
  })
  // Subscriptions made now go out once the authentication is answered.
  const saved = JSON.parse(sessionStorage.getItem(ROOMS_KEY) ?? '[]')
  for (const room of new Set([GENERAL, ...saved])) joinRoom(room)
  renderRoom()
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault()
  start($('name').value.trim())
})

$('join-room').addEventListener('submit', (event) => {
  event.preventDefault()
  const name = $('room-name').value.trim()
  $('room-name').value = ''
  joinRoom(name)
  switchRoom(name)
})

$('leave-room').addEventListener('click', () => leaveRoom(current))

$('composer').addEventListener('submit', (event) => {
  event.preventDefault()
  const text = $('text').value.trim()
  if (!text) return
  $('text').value = ''
  showError('')
  stoppedTyping()
  say(text)
})

$('text').addEventListener('input', typed)
$('sign-out').addEventListener('click', () => signOut())
window.addEventListener('offline', renderState)
window.addEventListener('online', renderState)

const initialName = new URLSearchParams(location.search).get('name') ?? sessionStorage.getItem(NAME_KEY)
if (initialName) start(initialName)
else $('name').focus()
