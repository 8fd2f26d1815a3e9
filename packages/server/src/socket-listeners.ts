import type { RawData, WebSocket } from 'ws'

/** What a server does with the events of its sockets. */
export interface SocketEventHandlers<C> {
  message(connection: C, data: RawData, isBinary: boolean): void
  close(connection: C, code: number, reason: string): void
  error(connection: C, error: Error): void
}

/** The property a socket carries its connection under (a symbol: nothing of `ws` or an application's can clash). */
const CONNECTION = Symbol('mesa.connection')

type Tagged<C> = WebSocket & { [CONNECTION]: C }

/**
 * The `message`, `close` and `error` listeners of a server's sockets, made once per server and shared by every
 * socket, as `ws` shares its own: `this` is the socket, which carries its connection. Three closures per socket
 * (and the context they capture) were about 200 bytes of each connection's heap.
 */
export class SocketListeners<C> {
  private readonly message: (this: WebSocket, data: RawData, isBinary: boolean) => void
  private readonly close: (this: WebSocket, code: number, reason: Buffer) => void
  private readonly error: (this: WebSocket, error: Error) => void

  constructor(handlers: SocketEventHandlers<C>) {
    this.message = function (data, isBinary) {
      handlers.message((this as Tagged<C>)[CONNECTION], data, isBinary)
    }
    this.close = function (code, reason) {
      handlers.close((this as Tagged<C>)[CONNECTION], code, reason.toString())
    }
    this.error = function (error) {
      handlers.error((this as Tagged<C>)[CONNECTION], error)
    }
  }

  /** Tags the socket with its connection and listens to it. */
  attach(ws: WebSocket, connection: C): void {
    ;(ws as Tagged<C>)[CONNECTION] = connection
    ws.on('message', this.message)
    ws.on('close', this.close)
    ws.on('error', this.error)
  }
}
