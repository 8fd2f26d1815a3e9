import type { AdapterHandle } from './adapter-handle.js'
import type { Connection } from './connection.js'
import type { HeartbeatSweep } from './heartbeat-sweep.js'
import { RecipientIndex } from './recipient-index.js'
import type { MesaStats } from './stats.js'

/**
 * Which sockets a server has and who they belong to: the one owner of the connection set, the recipient index,
 * the sweep's view of each socket and the adapter's presence. Every change of a socket's life goes through
 * here: `add` when it opens, `register` when it authenticates (it receives its user's messages from then on),
 * `changeUser`, and `remove` when it closes.
 */
export class ConnectionRegistry<User, C = unknown> {
  readonly all = new Set<Connection<User, C>>()
  readonly index = new RecipientIndex<Connection<User, C>>()

  constructor(
    private readonly sweep: HeartbeatSweep<Connection<User, C>>,
    private readonly stats: MesaStats,
    private readonly adapter: AdapterHandle,
    /** `authentication.storeConnectedUsers`: authenticated users are recorded in the adapter's presence. */
    private readonly presence: boolean,
    /** `authentication.required`: the socket must authenticate within the timeout from the moment it opens. */
    private readonly authenticationRequired: boolean,
    private readonly report: (error: Error, connection: Connection<User, C>) => void,
  ) {}

  add(connection: Connection<User, C>): void {
    this.all.add(connection)
    const { connections } = this.stats
    connections.total++
    if (connection.protocol === 2) connections.protocol2++
    else connections.protocol1++
    this.sweep.add(connection)
    if (this.authenticationRequired) this.sweep.expectAuthentication(connection, connection.connectedAt)
  }

  /** An authenticate handler was set: from now on the socket must authenticate in time. */
  expectAuthentication(connection: Connection<User, C>): void {
    if (!connection.authenticated) this.sweep.expectAuthentication(connection, connection.connectedAt)
  }

  /** The socket authenticated as `userId`: it receives that user's messages from now on. */
  register(connection: Connection<User, C>, userId: string, user: User): void {
    if (connection.authenticated) this.leave(connection)
    connection.userId = userId
    connection.user = user
    connection.authenticated = true
    this.stats.connections.authenticated++
    this.sweep.authenticated(connection)
    this.index.add(userId, connection)
    if (this.presence) this.adapter.run((adapter) => adapter.presence.join(userId, connection.socketId), this.reporter(connection))
  }

  /** `updateUser`: the same socket, another id or user object. A new id moves it in the index and presence. */
  changeUser(connection: Connection<User, C>, userId: string, user: User): void {
    if (userId === connection.userId) {
      connection.user = user
      return
    }
    this.register(connection, userId, user)
    // The old user's position means nothing in the new user's stream.
    connection.delivery.forget('user')
  }

  remove(connection: Connection<User, C>): void {
    if (!this.all.delete(connection)) return
    // `authenticated` and the user id stay as they were: `disconnection` listeners still read them.
    if (connection.authenticated) this.leave(connection)
    const { connections } = this.stats
    connections.total--
    if (connection.protocol === 2) connections.protocol2--
    else connections.protocol1--
    this.sweep.remove(connection)
  }

  /** Takes an authenticated socket out of the index and presence. */
  private leave(connection: Connection<User, C>): void {
    const userId = connection.userId!
    this.stats.connections.authenticated--
    this.index.remove(userId, connection)
    if (this.presence) this.adapter.run((adapter) => adapter.presence.leave(userId, connection.socketId), this.reporter(connection))
  }

  private reporter(connection: Connection<User, C>): (error: Error) => void {
    return (error) => this.report(error, connection)
  }
}
