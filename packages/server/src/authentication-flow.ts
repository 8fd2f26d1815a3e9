import {
  type Adapter,
  AuthenticationError,
  CloseCode,
  type Frame,
  frameToMessage,
  GLOBAL_STREAM,
  isStreamPosition,
  type Message,
  MesaError,
  Opcode,
  parseFrame,
  type ResumePositions,
  type ResyncReason,
  type StoredEntry,
  type StreamKind,
  type StreamPosition,
  userStream,
} from '@mesa/core'
import { sanitizeAuthData } from './auth-data.js'
import type { ResolvedConfig } from './config.js'
import type { Connection } from './connection.js'

/** Name of the store cursor marking what Mesa 1.x clients of a user were last given. */
export const LEGACY_CURSOR = 'legacy'

const KINDS: readonly StreamKind[] = ['user', 'global']

/** What the authentication flow needs from its server. */
export interface AuthenticationHost<User> {
  readonly config: ResolvedConfig
  adapter(): Promise<Adapter>
  /** Puts the socket in the recipient index and presence (it receives live messages from now on). */
  register(connection: Connection<User>): void
  /** Takes the socket out of the recipient index and presence (before a re-authentication as someone else). */
  unregister(connection: Connection<User>): void
  authenticated(connection: Connection<User>): void
  report(error: Error, connection: Connection<User>): void
}

export type ReplayListener<User> = (connection: Connection<User>, messages: Message<string, object>[]) => void

/** `x.resume` of a v2 op 2, keeping only well-formed positions. */
export function readResume(x: Record<string, unknown> | undefined): ResumePositions | undefined {
  const resume = x?.resume
  if (typeof resume !== 'object' || resume === null) return undefined
  const out: ResumePositions = {}
  for (const kind of KINDS) {
    const position = (resume as Record<string, unknown>)[kind]
    if (isStreamPosition(position)) out[kind] = { epoch: position.epoch, seq: position.seq }
  }
  return out.user || out.global ? out : undefined
}

function isUserId(id: unknown): id is string | number {
  return (typeof id === 'string' && id.length > 0) || (typeof id === 'number' && Number.isFinite(id))
}

function ackFrame(d: unknown, x?: Record<string, unknown>): string {
  const body = `{"op":${Opcode.AuthenticateAck},"d":${JSON.stringify(d ?? {})}`
  return x === undefined ? `${body}}` : `${body},"x":${JSON.stringify(x)}}`
}

function replayedMessages(replays: readonly [StreamKind, readonly StoredEntry[]][]): Message<string, object>[] {
  const messages: Message<string, object>[] = []
  for (const [, entries] of replays) {
    for (const entry of entries) {
      const parsed = parseFrame(entry.frame)
      if (parsed.ok) messages.push(frameToMessage({ ...parsed.frame, s: entry.seq }))
    }
  }
  return messages
}

/**
 * Handles op 2: runs the application's authenticate handler, then registers the socket and answers with op 22.
 * With `sync.enabled` it also redelivers: a protocol 2 client resumes from its positions (all or nothing),
 * a 1.x client gets the entries stored while it was offline (after the `legacy` cursor), and everything
 * live for the socket waits until the replay is written.
 */
export class AuthenticationFlow<User> {
  private replayed: ReplayListener<User> | undefined

  constructor(private readonly host: AuthenticationHost<User>) {}

  /** Listener of replays (`onRedeliverUndeliverableMessages`); undefined when nobody listens, to skip parsing. */
  setReplayed(listener: ReplayListener<User> | undefined): void {
    this.replayed = listener
  }

  receive(connection: Connection<User>, frame: Frame): void {
    const handler = connection.authenticator
    if (handler === undefined) {
      this.host.report(
        new MesaError('no-authenticator', 'a client sent op 2 but no client.authenticate() handler is set; ignored'),
        connection,
      )
      return
    }
    if (connection.authenticating) {
      this.host.report(
        new MesaError('authentication-in-progress', 'a client sent op 2 while its previous one was being handled; ignored'),
        connection,
      )
      return
    }
    connection.authenticating = true
    const data = sanitizeAuthData(frame.d)
    const shouldSync = data.shouldSync !== false
    const resume = connection.protocol === 2 ? readResume(frame.x) : undefined
    let settled = false
    const done = (error: unknown, result?: { id: string | number; user: User }): void => {
      if (settled) return
      settled = true
      if (connection.closed) return
      if (error) {
        connection.authenticating = false
        this.rejected(connection, error)
        return
      }
      if (!isUserId(result?.id) || result?.user === undefined) {
        connection.authenticating = false
        this.host.report(
          new MesaError(
            'invalid-authentication-result',
            'the authenticate handler must call done(null, { id, user }) with a non-empty id and a user',
          ),
          connection,
        )
        this.rejected(connection, new Error('the server could not authenticate the client'))
        return
      }
      this.accept(connection, String(result.id), result.user, shouldSync, resume).then(
        () => {
          connection.authenticating = false
        },
        (failure: unknown) => {
          connection.authenticating = false
          this.host.report(failure instanceof Error ? failure : new Error(String(failure)), connection)
          // The client would wait for an op 22 that is not coming; closing lets it reconnect and try again.
          connection.close(CloseCode.InternalError, 'authentication could not be completed')
        },
      )
    }
    try {
      handler(data, done)
    } catch (error) {
      this.host.report(
        new AuthenticationError('rejected', 'the authenticate handler threw', { cause: error }),
        connection,
      )
      // The handler's bug is for the server's logs, not for the client: it gets a plain reason.
      if (!settled) done(new Error('authentication failed'))
    }
  }

  private rejected(connection: Connection<User>, error: unknown): void {
    if (!this.host.config.authentication.disconnectOnFail) return
    const detail = error instanceof Error && error.message ? error.message : 'authentication failed'
    connection.close(CloseCode.AuthenticationFailed, detail)
  }

  private async accept(
    connection: Connection<User>,
    id: string,
    user: User,
    shouldSync: boolean,
    resume: ResumePositions | undefined,
  ): Promise<void> {
    const { config } = this.host
    if (connection.authenticated) this.host.unregister(connection)
    connection.userId = id
    connection.user = user
    connection.shouldSync = shouldSync
    const d = config.authentication.sendUserObject ? user : {}
    if (!config.sync.enabled) {
      this.host.register(connection)
      connection.write(ackFrame(d))
      this.host.authenticated(connection)
      return
    }
    const delivery = connection.delivery
    delivery.hold()
    try {
      const adapter = await this.host.adapter()
      if (connection.closed) return
      const replays =
        connection.protocol === 2
          ? await this.resume(connection, adapter, id, d, shouldSync ? resume : undefined)
          : await this.legacy(connection, adapter, id, d, shouldSync)
      if (connection.closed) return
      this.host.authenticated(connection)
      const count = replays.reduce((total, [, entries]) => total + entries.length, 0)
      if (count > 0 && this.replayed) this.replayed(connection, replayedMessages(replays))
      for (const [kind, entries] of replays) {
        await delivery.replay(kind, entries, config.sync.redeliveryInterval)
      }
    } finally {
      delivery.release()
    }
  }

  /** Protocol 2: heads, then every entry after the client's positions (or after the heads: a catch-up). */
  private async resume(
    connection: Connection<User>,
    adapter: Adapter,
    id: string,
    d: unknown,
    resume: ResumePositions | undefined,
  ): Promise<[StreamKind, StoredEntry[]][]> {
    const store = adapter.store
    const streams: Record<StreamKind, string> = { user: userStream(id), global: GLOBAL_STREAM }
    const cursors = connection.delivery.cursors
    let heads: Record<StreamKind, StreamPosition> | undefined
    try {
      const [user, global] = await Promise.all([store.head(streams.user), store.head(streams.global)])
      heads = { user, global }
    } catch (error) {
      this.host.report(error instanceof Error ? error : new Error(String(error)), connection)
    }
    if (connection.closed) return []
    // Live messages queue from here on; anything stored after the heads is read below, so nothing falls between.
    this.host.register(connection)
    if (heads === undefined) {
      cursors.user = undefined
      cursors.global = undefined
      const x = resume ? { streams: {}, recovered: false, reason: 'store-unavailable' } : { streams: {}, recovered: true }
      connection.write(ackFrame(d, x))
      return []
    }
    let recovered = true
    let reason: ResyncReason | undefined
    const replays: [StreamKind, StoredEntry[]][] = []
    for (const kind of KINDS) {
      const asked = resume?.[kind]
      const from = asked ?? heads[kind]
      try {
        const result = await store.readAfter(streams[kind], from)
        if (result.status === 'ok') {
          replays.push([kind, result.entries])
        } else if (asked) {
          recovered = false
          reason = result.status
          break
        }
      } catch (error) {
        this.host.report(error instanceof Error ? error : new Error(String(error)), connection)
        if (asked) {
          recovered = false
          reason = 'store-unavailable'
          break
        }
      }
    }
    for (const kind of KINDS) {
      const asked = recovered ? resume?.[kind] : undefined
      cursors[kind] = asked ? { epoch: heads[kind].epoch, seq: asked.seq } : { ...heads[kind] }
    }
    const x: Record<string, unknown> = { streams: heads, recovered }
    if (reason !== undefined) x.reason = reason
    connection.write(ackFrame(d, x))
    return recovered ? replays : []
  }

  /**
   * Mesa 1.x: what was stored while the user was offline and is still retained, after the `legacy` cursor;
   * `shouldSync: false` drops it.
   */
  private async legacy(
    connection: Connection<User>,
    adapter: Adapter,
    id: string,
    d: unknown,
    shouldSync: boolean,
  ): Promise<[StreamKind, StoredEntry[]][]> {
    const store = adapter.store
    const stream = userStream(id)
    this.host.register(connection)
    connection.write(ackFrame(d))
    try {
      const head = await store.head(stream)
      if (!shouldSync) {
        await store.setCursor(stream, LEGACY_CURSOR, head.seq)
        return []
      }
      const after = Math.min(await store.getCursor(stream, LEGACY_CURSOR), head.seq)
      // A 1.x client cannot be told that part of its backlog is gone: it gets what is left, the server reports
      // the gap.
      const { entries, head: now, complete } = await store.readRetained(stream, after)
      // Moved before the replay is written, so a second socket of the user does not replay the same entries.
      await store.setCursor(stream, LEGACY_CURSOR, entries.at(-1)?.seq ?? now.seq)
      const undelivered = entries.filter((entry) => entry.undelivered === true)
      if (!complete) {
        this.host.report(
          new MesaError(
            'history-lost',
            `stored messages of user ${id} were trimmed before its 1.x client came back; it gets the ${undelivered.length} still stored`,
          ),
          connection,
        )
      }
      return [['user', undelivered]]
    } catch (error) {
      this.host.report(error instanceof Error ? error : new Error(String(error)), connection)
      return []
    }
  }
}
