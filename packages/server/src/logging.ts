import type { IncomingMessage } from 'node:http'
import { ProtocolError } from '@mesa/core'
import createDebug from 'debug'
import type { MesaLogger } from './options.js'
import { ServerError, type ServerErrorCode } from './errors.js'

/**
 * `debug` namespaces, for developers (`DEBUG=mesa:*`), as Socket.IO and ioredis have them. Whatever runs per
 * message checks `enabled` first, so a disabled namespace costs a property read.
 */
export const debugServer = createDebug('mesa:server')
export const debugAuth = createDebug('mesa:server:auth')
export const debugMessages = createDebug('mesa:server:messages')

/** A socket as log lines name it. */
interface SocketRef {
  readonly socketId: string
  readonly userId: string | undefined
}

/**
 * Errors a client caused (its bad frame, its slow reading, its rate) or load the server shed by design: `warn`.
 * Everything else is the server's or the application's: `error`.
 */
const CLIENT_CAUSED: ReadonlySet<ServerErrorCode> = new Set<ServerErrorCode>([
  'slow-consumer',
  'overloaded',
  'rate-limited',
  'authentication-in-progress',
  'history-lost',
  'socket-error',
])

/** Distinct codes printed without a logger: errors of ever new codes must not print without end. */
const MAX_PRINTED_CODES = 100

/** The stable `code` of an error (every `MesaError` has one), else its name. */
export function errorCode(error: Error): string {
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' ? code : error.name
}

function levelOf(error: Error): 'warn' | 'error' {
  if (error instanceof ProtocolError) return 'warn'
  return error instanceof ServerError && CLIENT_CAUSED.has(error.code) ? 'warn' : 'error'
}

/**
 * What the server tells its operators: the application's `logger` (pino's signature) and the `debug`
 * namespaces. Without a logger nothing is logged, except that an error nobody heard (no `error` listener, no
 * `onError` middleware) is printed with `console.error` the first time its code occurs, rather than vanishing.
 */
export class ServerLog {
  private readonly logger: MesaLogger | undefined
  /** Codes already printed for want of a listener and a logger. */
  private readonly printed = new Set<string>()

  constructor(
    logger: MesaLogger | undefined,
    private readonly serverId: string,
  ) {
    this.logger = logger?.child ? logger.child({ serverId }) : logger
  }

  listening(fields: { port: number | undefined; path: string | undefined; namespace: string }): void {
    debugServer('%s listening on port %s, path %s, namespace %s', this.serverId, fields.port, fields.path ?? '*', fields.namespace)
    this.logger?.info(fields, 'mesa listening')
  }

  closing(code: number, connections: number): void {
    debugServer('%s closing %d sockets with %d', this.serverId, connections, code)
    this.logger?.info({ code, connections }, 'mesa closing')
  }

  closed(): void {
    debugServer('%s closed', this.serverId)
    this.logger?.info({}, 'mesa closed')
  }

  connection(socket: SocketRef & { readonly protocol: 1 | 2; readonly request: IncomingMessage }): void {
    const address = socket.request.socket.remoteAddress
    debugServer('%s connected (protocol %d, %s)', socket.socketId, socket.protocol, address)
    this.logger?.debug({ socketId: socket.socketId, protocol: socket.protocol, address }, 'connection')
  }

  authenticated(socket: SocketRef): void {
    debugAuth('%s authenticated as %s', socket.socketId, socket.userId)
    this.logger?.debug({ socketId: socket.socketId, userId: socket.userId }, 'authenticated')
  }

  disconnection(socket: SocketRef, code: number, reason: string): void {
    debugServer('%s closed with %d %s', socket.socketId, code, reason)
    this.logger?.debug({ socketId: socket.socketId, userId: socket.userId, code, reason }, 'disconnection')
  }

  /**
   * An error the server reported; `heard`: an `error` listener or `onError` middleware got it. Logged at
   * `warn` or `error` with its `code`; without a logger, printed once per code when nobody heard it.
   */
  error(error: Error, heard: boolean, socket?: SocketRef): void {
    const code = errorCode(error)
    if (debugServer.enabled) debugServer('%s error %s: %s', socket?.socketId ?? this.serverId, code, error.message)
    if (this.logger) {
      this.logger[levelOf(error)]({ err: error, code, socketId: socket?.socketId, userId: socket?.userId }, error.message)
      return
    }
    if (heard || this.printed.has(code) || this.printed.size >= MAX_PRINTED_CODES) return
    this.printed.add(code)
    console.error(
      `Mesa server ${this.serverId}: a "${code}" error nobody listens to (printed once per code; listen to ` +
        "mesa.on('error') or pass options.logger to see every one):",
      error,
    )
  }
}
