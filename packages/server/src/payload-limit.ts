import type WebSocket from 'ws'

/**
 * The part of ws's internals this relies on (ws 8: lib/websocket.js `_receiver`, the socket's `Receiver`;
 * lib/receiver.js `_maxPayload`, which `haveLength()` compares with a frame's announced length before reading
 * its payload, failing the socket with 1009 (`WS_ERR_UNSUPPORTED_MESSAGE_LENGTH`)). ws takes one `maxPayload`
 * for a whole server; each socket's receiver keeps its own copy, read on every frame.
 */
interface WebSocketInternals {
  _receiver?: { _maxPayload?: unknown } | null
}

/**
 * Sets the largest frame `ws` reads from this socket, in bytes. Enforced at the receiver, a bigger frame is
 * refused from its header: its bytes are never buffered. Returns false when this version of ws has no such
 * internal: the length check the server makes before parsing each frame is then the only bound
 * below the server's `maxPayload` (which ws still enforces), and the frame's bytes are buffered before it.
 */
export function setPayloadLimit(socket: WebSocket, bytes: number): boolean {
  const receiver = (socket as unknown as WebSocketInternals)._receiver
  if (receiver === undefined || receiver === null || typeof receiver._maxPayload !== 'number') return false
  receiver._maxPayload = bytes
  return true
}
