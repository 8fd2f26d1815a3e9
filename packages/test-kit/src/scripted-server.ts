import type { IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Frame, SUBPROTOCOL_V2 } from '@mesa/core'
import { type WebSocket, WebSocketServer } from 'ws'
import { waitFor } from './wait.js'

export interface ScriptedServerOptions {
  /** Accept the `mesa.v2` subprotocol when a client offers it. Default true. */
  v2?: boolean
  /** Port to listen on. Default: a free one. */
  port?: number
  /**
   * The hello (op 10) sent to the `index`-th connection as it opens; undefined sends none. Default: a hello
   * with the rule `sends_user_object`, announcing protocol 2 on a `mesa.v2` connection.
   */
  hello?: (side: ServerSide, index: number) => Frame | undefined
  /** Called for each connection after its hello: what the server does next. */
  onConnection?: (side: ServerSide, index: number) => void
}

function defaultHello(side: ServerSide): Frame {
  return side.protocol === SUBPROTOCOL_V2
    ? { op: 10, d: { rules: ['sends_user_object'] }, x: { protocol: 2 } }
    : { op: 10, d: { rules: ['sends_user_object'] } }
}

/** The server's side of one connection: what the client sent, and the socket to write to. */
export class ServerSide {
  readonly frames: Frame[] = []
  closeCode: number | undefined
  /** The subprotocol accepted ('' for none). */
  readonly protocol: string
  /** The subprotocols the client offered. */
  readonly offered: string[]
  /** The handshake's `Sec-WebSocket-Extensions` header (undefined when the client offered none). */
  readonly extensions: string | undefined

  constructor(
    readonly ws: WebSocket,
    readonly req: IncomingMessage,
  ) {
    this.protocol = ws.protocol
    this.offered = (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)
    this.extensions = req.headers['sec-websocket-extensions']
    ws.on('message', (data) => this.receive(String(data)))
    ws.on('close', (code) => {
      this.closeCode = code
    })
  }

  /** Text that is not JSON is kept as `{ unparsable }` (an op no frame has), for a test to find. */
  private receive(text: string): void {
    try {
      this.frames.push(JSON.parse(text) as Frame)
    } catch {
      this.frames.push({ op: -1, d: { unparsable: text } })
    }
  }

  send(frame: Frame | string | Buffer): void {
    this.ws.send(typeof frame === 'object' && !Buffer.isBuffer(frame) ? JSON.stringify(frame) : frame)
  }

  /** Resolves with the first frame with this opcode (and type) the client sent after the `after`-th. */
  frame(op: number, t?: string, after = 0): Promise<Frame> {
    return waitFor(`frame op ${op}${t ? ` ${t}` : ''}`, () =>
      this.frames.slice(after).find((f) => f.op === op && (t === undefined || f.t === t)),
    )
  }

  /** Resolves with the close code once the connection closed (the code the client sent, or 1006). */
  closed(): Promise<number> {
    return waitFor('server-side close', () => this.closeCode)
  }
}

/**
 * A scripted Mesa server: real `ws` sockets on 127.0.0.1, every frame a test wants sent written by hand, every
 * frame the client sends recorded. It plays the parts of the protocol a real server makes hard to reach on
 * purpose (silence, replays with duplicates, trimmed history, an hour-long reconnect window), and counts
 * connection attempts exactly.
 */
export class ScriptedServer {
  /** Every connection accepted so far, oldest first. */
  readonly sockets: ServerSide[] = []

  private constructor(
    private readonly wss: WebSocketServer,
    readonly url: string,
  ) {}

  static async start(options: ScriptedServerOptions = {}): Promise<ScriptedServer> {
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: options.port ?? 0,
      handleProtocols: (protocols) => (options.v2 !== false && protocols.has(SUBPROTOCOL_V2) ? SUBPROTOCOL_V2 : false),
    })
    await new Promise<void>((resolve) => wss.once('listening', resolve))
    const { port } = wss.address() as AddressInfo
    const server = new ScriptedServer(wss, `ws://127.0.0.1:${port}`)
    wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
      const side = new ServerSide(ws, req)
      const index = server.sockets.push(side) - 1
      const hello = options.hello ? options.hello(side, index) : defaultHello(side)
      if (hello) side.send(hello)
      options.onConnection?.(side, index)
    })
    return server
  }

  /** The n-th connection (0-based), once it exists. */
  connection(n: number): Promise<ServerSide> {
    return waitFor(`connection ${n}`, () => this.sockets[n])
  }

  close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate()
    return new Promise((resolve) => this.wss.close(() => resolve()))
  }
}
