import type { AddressInfo } from 'node:net'
import { type WebSocket, WebSocketServer } from 'ws'

export interface ScriptedServer {
  url: string
  /** Every socket accepted so far, oldest first. */
  sockets: WebSocket[]
  /** The subprotocol each socket was offered, in the same order. */
  offered: string[][]
  /** The `Sec-WebSocket-Extensions` header of each socket's handshake (undefined when none was offered). */
  extensions: (string | undefined)[]
  /** The close code each socket closed with, once it closed (the code the client sent, or 1006). */
  closeCodes: (number | undefined)[]
  /** Every frame received, parsed, with the index of the socket it came on. */
  frames: { socket: number; frame: Record<string, unknown> }[]
  close(): Promise<void>
}

/**
 * A WebSocket server on 127.0.0.1 that speaks only what `onConnection` writes: for the behaviours a well-behaved
 * Mesa server never shows (a server that stops talking, a frame over the client's limit) and for counting
 * connection attempts and reading their handshakes exactly.
 */
export async function startScriptedServer(onConnection: (socket: WebSocket, index: number) => void): Promise<ScriptedServer> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: (protocols) => (protocols.has('mesa.v2') ? 'mesa.v2' : false),
  })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  const server: ScriptedServer = {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    sockets: [],
    offered: [],
    extensions: [],
    closeCodes: [],
    frames: [],
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of wss.clients) socket.terminate()
        wss.close(() => resolve())
      }),
  }
  wss.on('connection', (socket, request) => {
    const index = server.sockets.push(socket) - 1
    server.offered.push((request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean))
    server.extensions.push(request.headers['sec-websocket-extensions'])
    socket.on('close', (code) => {
      server.closeCodes[index] = code
    })
    socket.on('message', (data) => {
      try {
        server.frames.push({ socket: index, frame: JSON.parse(String(data)) })
      } catch {
        server.frames.push({ socket: index, frame: { unparsable: String(data) } })
      }
    })
    onConnection(socket, index)
  })
  return server
}
