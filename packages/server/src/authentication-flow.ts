import {
  CloseCode,
  type Frame,
  type Message,
  type MessageMap,
  Opcode,
  ProtocolError,
  type ResumePositions,
  type StreamKind,
  type StreamPosition,
} from '@mesa/core'
import { encodeFrame, type StoredEntry } from '@mesa/core/server'
import type { AdapterHandle } from './adapter-handle.js'
import { GENERIC_REFUSAL, type HandlerOutcome, refusalReason, runAuthenticateHandler } from './authenticate-handler.js'
import { readResubscriptions } from './channels/subscriptions.js'
import type { AuthenticationContext } from './connection.js'
import { ServerError, toError } from './errors.js'
import { debugAuth } from './logging.js'
import type { InboundGate } from './inbound-gate.js'
import type { ConnectionRegistry } from './registry.js'
import type { CredentialExpiry } from './requests/credential-expiry.js'
import { answer, errorFrame, refuse, replyFrame, requestIdOf } from './requests/reply-frames.js'
import type { ServerClient } from './server-client.js'
import type { ServerConnection, ServerEvents } from './server-events.js'
import type { MesaStats } from './stats.js'
import { planResume, readHeads, readLegacyBacklog, readResume, type Replays, storedMessages } from './stream-resume.js'
import { readUpgradeCredentials, type UpgradeCredentialSources } from './upgrade-credentials.js'

/** The options of `resolveConfig` this flow reads. */
export interface AuthenticationSettings {
  /** op 22 carries the user object. */
  sendUserObject: boolean
  /** A refused authentication closes the socket with 1008. */
  disconnectOnFail: boolean
  /** `sync.enabled`: resume and replay through the store. */
  sync: boolean
  /** ms between replayed messages. */
  redeliveryInterval: number
  /** Where the handler's `context.credentials` come from in the upgrade request. */
  upgradeCredentials: UpgradeCredentialSources
  /** `limits.maxConnectionsPerUser`: authenticated sockets one user may have on this server; 0: no cap. */
  maxConnectionsPerUser: number
}

function replayedMessages(replays: Replays): Message[] {
  return replays.flatMap(([, entries]) => storedMessages(entries))
}

/** What authentication tells channels. */
export interface ChannelAuthentication<C> {
  /** The channels a reconnecting client resubscribes to (op 2 `x.ch`), once op 22 is written. */
  resubscribe(connection: C, requested: ReadonlyMap<string, StreamPosition | undefined>): void
  /** An authenticated socket authenticated again as another user: its client-side subscriptions end. */
  userChanged(connection: C): void
  /** The socket authenticated (op 22 is written): it gets the subscriptions dispatchers keep for its user. */
  authenticated(connection: C): void
}

/** What an op 2 asked for besides authenticating. */
interface Asked {
  /** `d.shouldSync`: replay what was missed (1.x), resume from `resume` (protocol 2). */
  shouldSync: boolean
  resume: ResumePositions | undefined
  /** `x.ch`: channels to resubscribe to (protocol 2). */
  channels: ReadonlyMap<string, StreamPosition | undefined> | undefined
}

/** A client instance id (`x.cid`): what a client's random 128-bit id looks like in any common encoding. */
const CLIENT_INSTANCE_ID = /^[A-Za-z0-9_-]{1,64}$/

function count(replays: Replays): number {
  return replays.reduce((total, [, entries]) => total + entries.length, 0)
}

/**
 * Handles op 2: runs the application's authenticate handler (`runAuthenticateHandler`), then registers the
 * socket and answers with op 22. With `sync` it also redelivers (`stream-resume.ts` decides what): a protocol 2
 * client resumes from its positions, all or nothing; a 1.x client gets what was stored while it was offline;
 * everything live for the socket waits until the replay is written.
 *
 * Protocol 2 additions: `x.cid` names the client instance (its acknowledged sends are deduplicated under it); an
 * authentication may expire (`expiresAt`: op 22 carries `x.exp`, `CredentialExpiry` warns and closes); and op 2
 * with `x: { id, refresh: true }` on an authenticated socket renews it in place, answered by op 41. The channels a
 * client resubscribes to (`x.ch`) are handed to `channels` once op 22 is written.
 */
export class AuthenticationFlow<In extends MessageMap<In>, Out extends MessageMap<Out>, User> {
  constructor(
    private readonly settings: AuthenticationSettings,
    private readonly adapter: AdapterHandle,
    private readonly registry: ConnectionRegistry<User, ServerClient<In, Out, User>>,
    private readonly inbound: InboundGate,
    private readonly events: ServerEvents<In, Out, User>,
    private readonly stats: MesaStats,
    private readonly expiry: CredentialExpiry,
    private readonly channels: ChannelAuthentication<ServerConnection<In, Out, User>>,
  ) {}

  private readonly report = (error: Error, connection?: ServerConnection<In, Out, User>): void => this.events.error(error, connection)

  receive(connection: ServerConnection<In, Out, User>, frame: Frame): void {
    const x = connection.protocol === 2 ? frame.x : undefined
    if (x?.refresh === true) {
      this.refresh(connection, frame)
      return
    }
    if (x?.cid !== undefined) {
      if (typeof x.cid !== 'string' || !CLIENT_INSTANCE_ID.test(x.cid)) {
        refuse(connection, 'x.cid must be 1 to 64 letters, digits, _ or -', this.report)
        return
      }
      connection.clientInstanceId = x.cid
    }
    const handler = connection.authenticator
    if (handler === undefined) {
      this.events.error(
        new ServerError('no-authenticator', 'a client sent op 2 but no client.authenticate() handler is set; ignored'),
        connection,
      )
      return
    }
    if (connection.authenticating) {
      this.events.error(
        new ServerError('authentication-in-progress', 'a client sent op 2 while its previous one was being handled; ignored'),
        connection,
      )
      return
    }
    const channels = connection.protocol === 2 ? readResubscriptions(frame.x) : undefined
    if (channels instanceof ProtocolError) {
      this.events.error(channels, connection)
      connection.close(channels.closeCode, channels.message)
      return
    }
    connection.authenticating = true
    // `readClientFrame` sanitised it as authentication data: objects without a prototype, no prototype keys.
    const data = frame.d
    const shouldSync = data.shouldSync !== false
    const resume = connection.protocol === 2 && shouldSync ? readResume(frame.x) : undefined
    const settled = runAuthenticateHandler(handler, data, this.context(connection), (late) => this.events.error(late, connection)).then(
      (outcome) => this.settled(connection, outcome, { shouldSync, resume, channels }),
    )
    // What the socket asks meanwhile (a subscription pipelined after op 2) waits for this.
    connection.authenticationSettled = settled
    void settled.then(() => {
      if (connection.authenticationSettled === settled) connection.authenticationSettled = undefined
    })
  }

  private context(connection: ServerConnection<In, Out, User>): AuthenticationContext {
    const request = connection.request
    return { credentials: readUpgradeCredentials(request, this.settings.upgradeCredentials), request }
  }

  /**
   * op 2 with `x: { id, refresh: true }`: runs the handler again on the authenticated socket. Accepted for the
   * same user id, the socket keeps its registration, positions and subscriptions (nothing is replayed) and gets
   * the new expiry; answered by op 41 (`d` as op 22's, `x.exp`). Refused, or for another user id, it is answered
   * `rejected` and closed with 1008 (a refusal only with `disconnectOnFail`: else the old authentication runs on
   * until it expires).
   */
  private refresh(connection: ServerConnection<In, Out, User>, frame: Frame): void {
    const id = requestIdOf(frame)
    if (id === undefined) {
      refuse(connection, 'a refresh (op 2 with x.refresh) needs x.id, a positive integer', this.report)
      return
    }
    const handler = connection.authenticator
    if (!connection.authenticated || handler === undefined) {
      answer(connection, errorFrame(id, 'not-authenticated', 'only an authenticated socket can refresh its authentication'))
      return
    }
    if (connection.authenticating) {
      answer(connection, errorFrame(id, 'busy', 'an authentication of this socket is being handled'))
      return
    }
    connection.authenticating = true
    void runAuthenticateHandler(handler, frame.d, this.context(connection), (late) => this.report(late, connection)).then((outcome) => {
      connection.authenticating = false
      if (!connection.closed) this.refreshed(connection, id, outcome)
    })
  }

  private refreshed(connection: ServerConnection<In, Out, User>, id: number, outcome: HandlerOutcome<User>): void {
    if (outcome.kind === 'accepted' && outcome.id === connection.userId) {
      if (this.expired(connection, outcome.expiresAt)) return
      let reply: string
      try {
        reply = replyFrame(id, this.userObject(outcome.user), undefined, outcome.expiresAt === undefined ? undefined : { exp: outcome.expiresAt })
      } catch (error) {
        this.report(toError(error), connection)
        connection.close(CloseCode.InternalError, 'authentication could not be completed')
        return
      }
      this.registry.changeUser(connection, outcome.id, outcome.user)
      this.expiry.set(connection, outcome.expiresAt)
      connection.write(reply)
      debugAuth('%s refreshed its authentication', connection.socketId)
      return
    }
    let reason: string
    if (outcome.kind === 'accepted') reason = 'a refreshed authentication must keep the user id'
    else if (outcome.kind === 'refused') reason = refusalReason(outcome.error)
    else {
      this.report(outcome.error, connection)
      reason = GENERIC_REFUSAL
    }
    debugAuth('%s refresh refused: %s', connection.socketId, reason)
    answer(connection, errorFrame(id, 'rejected', reason))
    if (outcome.kind === 'accepted' || this.settings.disconnectOnFail) connection.close(CloseCode.AuthenticationFailed, reason)
  }

  /** An authentication that expired before it was accepted closes the socket with 4008 instead. */
  private expired(connection: ServerConnection<In, Out, User>, expiresAt: number | undefined): boolean {
    if (expiresAt === undefined || expiresAt > Date.now()) return false
    connection.close(CloseCode.AuthenticationExpired, 'authentication expired')
    return true
  }

  /** op 22's `d`: the user object with `sendUserObject`, else `{}`. */
  private userObject(user: User): Frame['d'] {
    return ((this.settings.sendUserObject ? user : undefined) ?? {}) as Frame['d']
  }

  private async settled(connection: ServerConnection<In, Out, User>, outcome: HandlerOutcome<User>, asked: Asked): Promise<void> {
    if (connection.closed) {
      connection.authenticating = false
      return
    }
    if (outcome.kind !== 'accepted') {
      debugAuth('%s authentication %s', connection.socketId, outcome.kind)
      connection.authenticating = false
      // The handler's failure is for the server's logs; the client gets a generic reason.
      if (outcome.kind === 'failed') this.events.error(outcome.error, connection)
      if (this.settings.disconnectOnFail) {
        const reason = outcome.kind === 'refused' ? refusalReason(outcome.error) : GENERIC_REFUSAL
        connection.close(CloseCode.AuthenticationFailed, reason)
      }
      return
    }
    if (this.expired(connection, outcome.expiresAt)) {
      connection.authenticating = false
      return
    }
    try {
      await this.accept(connection, outcome.id, outcome.user, outcome.expiresAt, asked)
    } catch (failure) {
      this.events.error(toError(failure), connection)
      // The client would wait for an op 22 that is not coming; closing lets it reconnect and try again.
      connection.close(CloseCode.InternalError, 'authentication could not be completed')
    } finally {
      connection.authenticating = false
    }
  }

  private async accept(
    connection: ServerConnection<In, Out, User>,
    id: string,
    user: User,
    expiresAt: number | undefined,
    { shouldSync, resume, channels }: Asked,
  ): Promise<void> {
    const d = this.userObject(user)
    // Protocol 2 clients learn when the authentication expires.
    const exp = connection.protocol === 2 && expiresAt !== undefined ? { exp: expiresAt } : undefined
    if (!this.settings.sync) {
      if (!this.register(connection, id, user, expiresAt)) return
      connection.write(encodeFrame({ op: Opcode.AuthenticateAck, d, x: exp }))
      if (channels !== undefined) this.channels.resubscribe(connection, channels)
      this.channels.authenticated(connection)
      this.events.authenticated(connection)
      return
    }
    const delivery = connection.delivery
    const report = (error: Error): void => this.events.error(error, connection)
    delivery.hold()
    try {
      const { store } = await this.adapter.get()
      if (connection.closed) return
      let replays: Replays
      if (connection.protocol === 2) {
        const heads = await readHeads(store, id, report)
        if (connection.closed) return
        // Live messages queue from here on; anything stored after the heads is read below, so nothing falls between.
        if (!this.register(connection, id, user, expiresAt)) return
        const plan = await planResume(store, id, heads, resume, report)
        delivery.start(plan.positions)
        connection.write(encodeFrame({ op: Opcode.AuthenticateAck, d, x: { ...plan.ack, ...exp } }))
        if (channels !== undefined) this.channels.resubscribe(connection, channels)
        this.channels.authenticated(connection)
        if (!plan.ack.recovered) this.stats.resyncs++
        debugAuth('%s resume: recovered %s%s', connection.socketId, plan.ack.recovered, plan.ack.reason ? ` (${plan.ack.reason})` : '')
        replays = plan.replays
      } else {
        if (!this.register(connection, id, user, expiresAt)) return
        connection.write(encodeFrame({ op: Opcode.AuthenticateAck, d }))
        this.channels.authenticated(connection)
        replays = [['user', await readLegacyBacklog(store, id, shouldSync, report)]]
      }
      if (connection.closed) return
      this.events.authenticated(connection)
      const replayed = count(replays)
      if (replayed > 0 && this.events.collectingReplays) this.events.replayed(connection, replayedMessages(replays))
      for (const [kind, entries] of replays) await this.replay(connection, kind, entries)
    } finally {
      delivery.release()
    }
  }

  /**
   * Registers the socket as the user's, unless the user already has `maxConnectionsPerUser` other authenticated
   * sockets on this server: then this one, the newest, is closed with `CloseCode.TooManyConnections` (checked
   * right before registering, so that concurrent authentications cannot both pass). The authentication expires at
   * `expiresAt` (undefined: never; an earlier expiry of the socket no longer applies).
   */
  private register(connection: ServerConnection<In, Out, User>, id: string, user: User, expiresAt: number | undefined): boolean {
    const cap = this.settings.maxConnectionsPerUser
    if (cap > 0) {
      const sockets = this.registry.index.get(id)
      const others = sockets === undefined ? 0 : sockets.size - (sockets.has(connection) ? 1 : 0)
      if (others >= cap) {
        connection.close(CloseCode.TooManyConnections, `user has ${others} connections, the most this server allows`)
        return false
      }
    }
    // What the client subscribed to was authorized for the user it was: not for another one.
    if (connection.authenticated && connection.userId !== id) this.channels.userChanged(connection)
    this.registry.register(connection, id, user)
    this.expiry.set(connection, expiresAt)
    // It may send frames up to `maxPayload` once it reads op 22.
    this.inbound.authenticated(connection)
    return true
  }

  private async replay(connection: ServerConnection<In, Out, User>, kind: StreamKind, entries: StoredEntry[]): Promise<void> {
    const written = await connection.delivery.replay(kind, entries, this.settings.redeliveryInterval)
    this.stats.replays += written
  }
}
