// The chat page: plain ES modules, the browser client's single-file build, no framework.
import { Client, Message } from '/mesa.js'

const $ = (id) => document.getElementById(id)
const mesaPath = document.querySelector('meta[name="mesa-path"]')?.content ?? '/ws'
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${mesaPath}`

/** room -> { epoch, ids: Set, messages (sorted by id), members, typing: Map<user, timer>, unread } */
const rooms = new Map()
let current = 'general'
let me
let client

/**
 * Every NEW_MESSAGE the client delivered, as `room:id`, in delivery order: what Mesa guarantees (each synced
 * message once, in order, across reconnects) can be checked from the devtools console.
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

function roomState(name) {
  let room = rooms.get(name)
  if (!room) {
    room = { epoch: undefined, ids: new Set(), messages: [], members: [], typing: new Map(), unread: 0 }
    rooms.set(name, room)
  }
  return room
}

/** A room whose server-side history restarted (new epoch) starts over here too. */
function adoptEpoch(room, epoch) {
  if (room.epoch === epoch) return
  room.epoch = epoch
  room.ids = new Set()
  room.messages = []
}

/**
 * Adds a message in id order; returns its index, or -1 when it is already shown (a join snapshot can
 * overlap what was delivered). Ids order a room's messages even when two gateways deliver them.
 */
function addMessage(message) {
  const room = roomState(message.room)
  adoptEpoch(room, message.epoch)
  if (room.ids.has(message.id)) return -1
  room.ids.add(message.id)
  let index = room.messages.length
  while (index > 0 && room.messages[index - 1].id > message.id) index--
  room.messages.splice(index, 0, message)
  if (message.room !== current) room.unread++
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
  item.dataset.id = String(message.id)
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

function renderRoom() {
  const room = roomState(current)
  room.unread = 0
  $('room-title').textContent = `# ${current}`
  $('members').textContent = room.members.length > 0 ? `Members: ${room.members.join(', ')}` : ''
  $('messages').replaceChildren(...room.messages.map(renderMessage))
  $('messages').scrollTop = $('messages').scrollHeight
  renderTyping()
  renderRooms()
}

function renderTyping() {
  const typing = [...roomState(current).typing.keys()]
  $('typing').textContent =
    typing.length === 0 ? '' : `${typing.join(', ')} ${typing.length === 1 ? 'is' : 'are'} typing…`
}

function switchRoom(name) {
  current = name
  renderRoom()
}

function joinRoom(name) {
  roomState(name)
  client.send(new Message(0, { room: name }, 'JOIN'))
}

const handlers = {
  ROOM({ room: name, epoch, members, history }) {
    const room = roomState(name)
    adoptEpoch(room, epoch)
    room.members = members
    // The snapshot may overlap what was already delivered: only newer ids are added.
    for (const message of history) addMessage(message)
    if (name === current) renderRoom()
    else renderRooms()
  },
  MEMBER({ room: name, user, joined }) {
    const room = roomState(name)
    room.members = joined ? [...new Set([...room.members, user])] : room.members.filter((m) => m !== user)
    if (name === current) $('members').textContent = `Members: ${room.members.join(', ')}`
  },
  NEW_MESSAGE(message) {
    window.chatDeliveries.push(`${message.room}:${message.id}`)
    const room = roomState(message.room)
    clearTimeout(room.typing.get(message.from))
    room.typing.delete(message.from)
    const index = addMessage(message)
    if (index === -1) return
    if (message.room === current) {
      $('messages').insertBefore(renderMessage(message), $('messages').children[index] ?? null)
      $('messages').scrollTop = $('messages').scrollHeight
      renderTyping()
    } else renderRooms()
  },
  TYPING({ room: name, user, typing }) {
    const room = roomState(name)
    clearTimeout(room.typing.get(user))
    if (typing) {
      // Typing indicators are never redelivered, so a lost "stopped typing" must not leave one up forever.
      room.typing.set(
        user,
        setTimeout(() => {
          room.typing.delete(user)
          if (name === current) renderTyping()
        }, 6000),
      )
    } else room.typing.delete(user)
    if (name === current) renderTyping()
  },
  CHAT_ERROR({ reason }) {
    showError(reason)
  },
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

/** The name is kept per tab (sessionStorage): two tabs are two people, and a reload keeps who you are. */
const NAME_KEY = 'mesa-chat-name'

function signOut(reason = '') {
  const leaving = client
  client = undefined
  leaving?.disconnect()
  sessionStorage.removeItem(NAME_KEY)
  rooms.clear()
  current = 'general'
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
  roomState(current)
  renderRoom()

  const session = new Client(wsUrl)
  client = session
  renderState()
  session.on('message', (message) => handlers[message.type]?.(message.data))
  session.on('stateChange', (state) => {
    // The session's own state, for the curious (devtools) and for the end-to-end test.
    document.body.dataset.mesaState = state
    if (session === client) renderState()
  })
  session.on('authenticated', () => {
    // Idempotent on the server; after a server restart it is what puts us back in our rooms.
    for (const name of rooms.keys()) joinRoom(name)
  })
  session.on('error', (error) => console.warn('mesa:', error))
  session.authenticate({ name }).catch((error) => {
    // Closed or timed out: the client retries with the same name on its own. Rejected: ask again.
    if (error.code === 'rejected' && session === client) signOut(`Could not sign in as "${name}": ${error.message}`)
  })
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

$('composer').addEventListener('submit', (event) => {
  event.preventDefault()
  const text = $('text').value.trim()
  if (!text) return
  $('text').value = ''
  showError('')
  stoppedTyping()
  try {
    client.send(new Message(0, { room: current, text }, 'SAY'))
  } catch (error) {
    showError(error.message)
  }
})

$('text').addEventListener('input', typed)
$('sign-out').addEventListener('click', () => signOut())
window.addEventListener('offline', renderState)
window.addEventListener('online', renderState)

const initialName = new URLSearchParams(location.search).get('name') ?? sessionStorage.getItem(NAME_KEY)
if (initialName) start(initialName)
else $('name').focus()
