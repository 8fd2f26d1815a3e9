import { CloseCode, ProtocolError } from '@mesa/core'
import WebSocket, { type ClientOptions } from 'ws'

/** `code` of the RangeError `ws` raises for a frame over `maxPayload` (ws's doc/ws.md, "Error codes"). */
const WS_TOO_BIG = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'

/**
 * `ws`'s `WebSocket`, reporting a frame over `maxPayload` in Mesa's terms. On such a frame `ws` fails the connection
 * (lib/websocket.js, `receiverOnError`): it sends a close frame with 1009, stops reading, emits `error` with a
 * RangeError whose `code` is `WS_ERR_UNSUPPORTED_MESSAGE_LENGTH`, and emits `close` with 1006 once the server ends
 * the TCP connection, as the server's answering close frame is never read. This class turns that error into a
 * `ProtocolError` (`payload-too-large`) and that close code into the 1009 it sent, before any listener sees them,
 * so the session reports a typed error and a 1009 close and reconnects as after any other non-terminal close.
 * It relies only on `ws` emitting both events through `emit`, as every EventEmitter does; another error or close
 * passes unchanged.
 */
export class NodeSocket extends WebSocket {
  readonly #maxPayload: number
  #tooBig: ProtocolError | undefined

  constructor(address: string, protocols: string[], options: ClientOptions & { maxPayload: number }) {
    super(address, protocols, options)
    this.#maxPayload = options.maxPayload
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'error' && (args[0] as { code?: unknown } | undefined)?.code === WS_TOO_BIG) {
      this.#tooBig = new ProtocolError(
        'payload-too-large',
        CloseCode.MessageTooBig,
        `frame from the server larger than maxPayload (${this.#maxPayload} bytes)`,
      )
      return super.emit('error', this.#tooBig)
    }
    if (event === 'close' && this.#tooBig) return super.emit('close', CloseCode.MessageTooBig, Buffer.from(this.#tooBig.message))
    return super.emit(event, ...args)
  }
}
