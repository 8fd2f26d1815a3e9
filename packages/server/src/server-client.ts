import type { IncomingMessage } from 'node:http'
import { type AnyMessageData, CloseCode, type Message, type MessageMap, type MessageOf } from '@mesa/core'
import type { AuthenticateHandler, Connection } from './connection.js'
import { ServerError } from './errors.js'
import { GuardedEmitter } from './guarded-emitter.js'
import type { RequestOptions } from './requests/outgoing-requests.js'

export interface ServerClientEvents<In extends MessageMap<In>> {
  /** A message (op 0) from this client. */
  message: [message: MessageOf<In>]
  /** The socket closed. */
  disconnect: [code: number, reason: string]
  /** Something failed for this client (bad frame, failing handler); the server's `error` gets it too. */
  error: [error: Error]
}

/** What a client needs from its server. */
export interface ClientHost<Out extends MessageMap<Out>, User> {
  sendToClient(connection: Connection<User>, message: MessageOf<Out>): Promise<void>
  authenticatorSet(connection: Connection<User>): void
  updateUser(connection: Connection<User>, id: string, user: User): void
  subscribe(connection: Connection<User>, channel: string): Promise<void>
  unsubscribe(connection: Connection<User>, channel: string): void
  channelsOf(connection: Connection<User>): string[]
  request<R extends object>(connection: Connection<User>, message: Message<string, object>, options?: RequestOptions): Promise<Message<string, R>>
  /** A listener of the client failed: `event` is the one whose listener it was. Must not throw. */
  listenerFailed(connection: Connection<User>, error: Error, event: keyof ServerClientEvents<MessageMap>): void
}

/** Messages the server keeps per client with `options.storeMessages` (1.x rule `store_messages`). */
export interface StoredMessages {
  sent: Message<string, object>[]
  received: Message<string, object>[]
}

/**
 * One connected socket, as the application sees it (`mesa.on('connection', client => ...)`).
 *
 * @typeParam In messages clients send; Out messages the server sends; User the authenticated user object.
 */
export class ServerClient<
  In extends MessageMap<In> = MessageMap,
  Out extends MessageMap<Out> = MessageMap,
  User = unknown,
> extends GuardedEmitter<ServerClientEvents<In>> {
  #messages: StoredMessages | undefined
  readonly #connection: Connection<User>
  readonly #host: ClientHost<Out, User>

  constructor(connection: Connection<User>, host: ClientHost<Out, User>) {
    super()
    this.#connection = connection
    this.#host = host
  }

  protected override listenerFailed(error: Error, event: keyof ServerClientEvents<In>): void {
    this.#host.listenerFailed(this.#connection, error, event)
  }

  /** Filled with `options.storeMessages`; made when first read (without the option, most clients never are). */
  get messages(): StoredMessages {
    this.#messages ??= { sent: [], received: [] }
    return this.#messages
  }

  /** Id of this socket, unique across servers. */
  get socketId(): string {
    return this.#connection.socketId
  }

  /** The user id given by the authenticate handler (Mesa 1.x `client.id`); undefined before authentication. */
  get id(): string | undefined {
    return this.#connection.userId
  }

  /** Same as `id`. */
  get userId(): string | undefined {
    return this.#connection.userId
  }

  get user(): User | undefined {
    return this.#connection.user
  }

  get authenticated(): boolean {
    return this.#connection.authenticated
  }

  /** 2 when the client negotiated `mesa.v2`, 1 for Mesa 1.x clients. */
  get protocol(): 1 | 2 {
    return this.#connection.protocol
  }

  /**
   * The HTTP upgrade request (headers, remote address). Named `request` before Mesa 2 had requests: `request()`
   * is now the method asking the client a question.
   */
  get upgradeRequest(): IncomingMessage {
    return this.#connection.request
  }

  /**
   * Sets the handler that validates this client's authentication (op 2). It gets the auth data (an object
   * without prototype: keys like `__proto__` are plain data) and a `context` with the upgrade request and the
   * credentials it carried (`authentication.upgradeCredentials`), and calls `done(error)` or `done(null, { id, user })`;
   * it may be `async` (a rejection fails the authentication and is reported through `error`). The client learns
   * the message of a `done(error)` only when the error is marked for it (`error.expose = true`); otherwise its
   * close reason is a generic "authentication failed". From then on the client must authenticate within
   * `authentication.timeout`.
   */
  authenticate(handler: AuthenticateHandler<User>): void {
    if (typeof handler !== 'function') throw new TypeError('client.authenticate() takes a function (data, done) => void')
    this.#connection.authenticator = handler
    this.#host.authenticatorSet(this.#connection)
  }

  /**
   * Sends a message to this client. As in Mesa 1.x, once the client is authenticated this is a send to its
   * user (every socket of the user, stored for redelivery with `sync`); before, it goes to this socket only.
   * Resolves once stored; rejects with `StoreError` when storing failed.
   */
  send(message: MessageOf<Out>): Promise<void> {
    return this.#host.sendToClient(this.#connection, message)
  }

  /**
   * Subscribes this socket to a channel from the server (e.g. from the application's database in
   * `onAuthenticated`): no authorize hook, and the client may not end it. A protocol 2 client is told with op 31
   * (`srv: true`) and gets the channel's publications from there on; a Mesa 1.x client gets them as plain op 0
   * frames. Resolves once subscribed (at once when the socket is subscribed already); rejects with `ChannelError`
   * (`invalid-channel`, `too-many-channels`, `unavailable`). Not kept across reconnects: subscribe again when
   * the client authenticates again.
   */
  subscribe(channel: string): Promise<void> {
    return this.#host.subscribe(this.#connection, channel)
  }

  /**
   * Ends this socket's subscription to a channel (whoever asked for it); a protocol 2 client is told with op 33.
   * Nothing happens when it has none. Throws `ChannelError` `invalid-channel` for a name that breaks the rules.
   */
  unsubscribe(channel: string): void {
    this.#host.unsubscribe(this.#connection, channel)
  }

  /** The channels this socket is subscribed to; a new array on each call. */
  get channels(): string[] {
    return this.#host.channelsOf(this.#connection)
  }

  /**
   * Asks this client a question (op 40) and resolves with its answer: a `Message` of the reply's type (the
   * request's, unless the client's handler gave another) and data, typed `R`. Rejects with `RequestError`:
   * `timeout` (no answer within `options.timeout`, default 10000 ms), `rejected` (the client's handler refused it:
   * `error.rejection` is its code), `no-handler` (the client answers no requests of this type),
   * `connection-lost` (the socket closed first; requests are never sent again), `too-many-requests`
   * (`requests.maxPending` are waiting), `unsupported` (a Mesa 1.x client). A message without a type, or data
   * JSON cannot encode, rejects with `ServerError` `invalid-message`.
   */
  request<R extends object = AnyMessageData>(message: Message<string, object>, options?: RequestOptions): Promise<Message<string, R>> {
    return this.#host.request<R>(this.#connection, message, options)
  }

  /** Replaces the authenticated user's id and object (1.x `updateUser`); throws before authentication. */
  updateUser(update: { id?: string | number; user: User }): void {
    const connection = this.#connection
    if (!connection.authenticated || connection.userId === undefined) {
      throw new ServerError('not-authenticated', 'updateUser() needs an authenticated client')
    }
    const id = update.id === undefined ? connection.userId : String(update.id)
    if (id.length === 0) throw new ServerError('invalid-user', 'updateUser(): the user id must not be empty')
    this.#host.updateUser(connection, id, update.user)
  }

  /**
   * Closes the socket. Default code `CloseCode.DisconnectedByServer` (4004), after which Mesa clients do not
   * reconnect on their own. Any code a server may send (1000-1003, 1007-1014, 3000-4999) is accepted.
   */
  disconnect(code: number = CloseCode.DisconnectedByServer, reason = 'disconnected by the server'): void {
    if (!isSendableCloseCode(code)) {
      throw new ServerError('invalid-close-code', `disconnect(): ${String(code)} is not a close code a server may send`)
    }
    this.#connection.close(code, reason)
  }
}

/** RFC 6455 codes an endpoint may put in a close frame (1004-1006 and 1015 are reserved). */
export function isSendableCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false
  return (code >= 1000 && code <= 1014 && (code < 1004 || code > 1006)) || (code >= 3000 && code <= 4999)
}
