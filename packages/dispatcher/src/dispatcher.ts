import { randomUUID } from 'node:crypto'
import {
  type Adapter,
  ConfigError,
  type DisconnectEnvelope,
  Message,
  type MessageMap,
  type MessageOf,
  InternalType,
  Opcode,
  prepareDispatch,
  userIdsProblem,
} from '@mesa/core'
import createDebug from 'debug'
import { type DisconnectOptions, DispatchEvent } from './dispatch-event.js'
import { DispatchError, DispatcherClosedError } from './errors.js'
import { checkAdapterArgument, type RedisConnection, type ResolvedAdapter, resolveAdapter } from './resolve-adapter.js'

/** `DEBUG=mesa:dispatcher`: a line per send and disconnect (checked with `enabled` first), and the close. */
const debug = createDebug('mesa:dispatcher')

export interface DispatcherSyncOptions {
  /** Store synced messages for redelivery before publishing them. Default `false`. */
  enabled?: boolean
}

export interface DispatcherOptions {
  /**
   * Namespace of the Redis adapter created when the first argument says where Redis is. With an Adapter it
   * may be omitted; when given it must equal the adapter's. Default: the adapter's default namespace.
   */
  namespace?: string
  /**
   * `true` (or `{ enabled: true }`, as in Mesa 1.x): each message whose `options.sync` is not `false` is
   * appended to the redelivery store before it is published, so users who are offline, or whose socket is
   * dying, get it when they authenticate again. Use it when the servers run with `sync: { enabled: true }`.
   * Default `false`.
   */
  sync?: boolean | DispatcherSyncOptions
  /** Origin id put on published envelopes. Default: `dispatcher-` and a random UUID. */
  id?: string
}

/** What `dispatch` accepts: a message of the map `M`, or an instruction for servers. */
export type Dispatchable<M extends MessageMap<M> = MessageMap> = MessageOf<M> | DispatchEvent

function resolveSync(sync: DispatcherOptions['sync']): boolean {
  if (sync === undefined) return false
  if (typeof sync === 'boolean') return sync
  if (typeof sync === 'object' && sync !== null) {
    if (sync.enabled !== undefined && typeof sync.enabled !== 'boolean') {
      throw new ConfigError('Dispatcher: options.sync.enabled must be a boolean')
    }
    return sync.enabled ?? false
  }
  throw new ConfigError('Dispatcher: options.sync must be a boolean or { enabled: boolean }')
}

/** The rule `mesa.send` applies too (`userIdsProblem`), with this package's error. */
function checkUserIds(what: string, ids: unknown, allowEveryone = true): asserts ids is readonly string[] {
  const problem = userIdsProblem(what, ids, allowEveryone)
  if (problem !== undefined) throw new DispatchError('invalid-recipients', problem)
}

/**
 * Sends messages to Mesa clients from anywhere in a backend: the message goes through the adapter to every
 * server sharing it, and each delivers it to its own sockets. `dispatch` resolves once the message is stored
 * (with `sync`) and published; it rejects when either failed, so a caller knows the message may not arrive.
 */
export class Dispatcher<M extends MessageMap<M> = MessageMap> {
  readonly id: string
  private readonly sync: boolean
  private readonly adapter: Promise<ResolvedAdapter>
  private closing: Promise<void> | undefined
  private readonly inFlight = new Set<Promise<void>>()

  /**
   * @param adapterOrRedis an `Adapter` shared with servers (the dispatcher does not close it), or a Redis URL or
   *   connection options (as Mesa 1.x took): the dispatcher then loads `@mesa/redis-adapter`, creates the adapter
   *   and closes it on `close()`.
   */
  constructor(adapterOrRedis: Adapter | RedisConnection, options: DispatcherOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new ConfigError('Dispatcher: options must be an object')
    checkAdapterArgument(adapterOrRedis, options.namespace)
    if (options.id !== undefined && (typeof options.id !== 'string' || options.id.length === 0)) {
      throw new ConfigError('Dispatcher: options.id must be a non-empty string')
    }
    this.id = options.id ?? `dispatcher-${randomUUID()}`
    this.sync = resolveSync(options.sync)
    this.adapter = resolveAdapter(adapterOrRedis, options.namespace)
    // Failures surface from dispatch() and whenReady(); one nobody awaited must not be an unhandled rejection.
    this.adapter.catch(() => {})
  }

  /** Resolves once the adapter is available; rejects when it could not be created (e.g. the package is missing). */
  async whenReady(): Promise<void> {
    await this.adapter
  }

  /**
   * Sends a message, or performs a `DispatchEvent`.
   *
   * @param recipients user ids; `['*']` (default) means every authenticated user. An empty list sends nothing.
   * @param excluding user ids that must not get it.
   */
  async dispatch(
    event: Dispatchable<M>,
    recipients: readonly string[] = ['*'],
    excluding?: readonly string[],
  ): Promise<void> {
    checkUserIds('recipients', recipients)
    if (excluding !== undefined) checkUserIds('excluding', excluding)
    const targets = () => (excluding === undefined ? recipients : recipients.filter((id) => !excluding.includes(id)))
    if (event instanceof DispatchEvent) return this.disconnect(targets(), event.data)
    if (!(event instanceof Message)) {
      throw new DispatchError('invalid-message', 'dispatch() takes a Message or a DispatchEvent')
    }
    if (event.opcode === Opcode.Internal) {
      // Mesa 1.x code sends `new Message(5, {}, 'DISCONNECT_CLIENT')`, which its servers performed.
      if (event.type === InternalType.DisconnectClient) return this.disconnect(targets())
      throw new DispatchError('invalid-message', `opcode 5 carries only ${InternalType.DisconnectClient}`)
    }
    if (recipients.length === 0) return
    if (debug.enabled) debug('%s: %s to %s', this.id, event.type, recipients[0] === '*' ? 'everyone' : `${recipients.length} users`)
    return this.track(async (adapter) => {
      const envelope = await prepareDispatch(adapter, event, recipients, excluding, {
        sync: this.sync,
        origin: this.id,
      })
      await adapter.publish(envelope)
    })
  }

  /**
   * Closes every socket of these users on every server (Mesa 1.x `DISCONNECT_CLIENT`). By default they get
   * close code 4004, after which Mesa clients do not reconnect on their own.
   */
  async disconnect(userIds: readonly string[], options: DisconnectOptions = {}): Promise<void> {
    checkUserIds('DISCONNECT_CLIENT user ids', userIds, false)
    const { code, reason } = new DispatchEvent('DISCONNECT_CLIENT', options).data
    if (userIds.length === 0) return
    const envelope: DisconnectEnvelope = { kind: 'disconnect', origin: this.id, userIds: [...userIds] }
    if (code !== undefined) envelope.code = code
    if (reason !== undefined) envelope.reason = reason
    debug('%s: disconnect %d users', this.id, userIds.length)
    return this.track((adapter) => adapter.publish(envelope))
  }

  /**
   * Sends nothing more: later calls reject with `DispatcherClosedError`. Sends already under way finish
   * first; then an adapter the dispatcher created is closed. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  /**
   * Runs a send once the adapter is available. Called synchronously from `dispatch`/`disconnect`, so a send
   * begun before `close()` is tracked and finishes; `close()` waits for it before closing an owned adapter.
   */
  private track(send: (adapter: Adapter) => Promise<void>): Promise<void> {
    if (this.closing) return Promise.reject(new DispatcherClosedError())
    const running = this.adapter.then(({ adapter }) => send(adapter))
    this.inFlight.add(running)
    const forget = () => {
      this.inFlight.delete(running)
    }
    running.then(forget, forget)
    return running
  }

  private async shutdown(): Promise<void> {
    debug('%s closing, %d sends under way', this.id, this.inFlight.size)
    await Promise.allSettled([...this.inFlight])
    let resolved: ResolvedAdapter
    try {
      resolved = await this.adapter
    } catch {
      return
    }
    if (resolved.owned) await resolved.adapter.close()
  }
}
