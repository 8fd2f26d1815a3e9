import { AdapterError } from '@mesa/core'
import type { PortalMembershipEvent, PortalMembershipListener } from '@mesa/core/server'
import type { RedisClient, RedisConnections } from './connection.js'
import { adapterError } from './errors.js'
import { type Announcement, type MembershipSnapshot, type MembershipStore, parseAnnouncement } from './portal-membership.js'

interface Watcher {
  readonly listener: PortalMembershipListener
}

export interface MembershipWatchSettings {
  /** How often (ms) the view is checked against Redis, which also sweeps lapsed portals. */
  intervalMs: number
  /** How long (ms) portals missing after Redis lost the membership are given to register again. */
  graceMs: number
}

/**
 * This adapter's view of the namespace's portals, shared by its `watchMembers` listeners: announcements on
 * the membership channel keep it current at once, and a snapshot (which also removes lapsed portals) on a
 * timer and after reconnecting repairs whatever pub/sub lost. Announcements carry the version they produced
 * and snapshots the version they saw, so one older than what is applied is ignored: the view only moves
 * forward, and no listener sees a portal flap because a reply and a message crossed.
 */
export class MembershipWatch {
  private readonly watchers = new Set<Watcher>()
  private readonly known = new Set<string>()
  private readonly subscriber: RedisClient
  private timer: ReturnType<typeof setInterval> | undefined
  private epoch: string | undefined
  /** Version of the last change applied. */
  private seen = 0
  /** Until then, portals missing from a new epoch's snapshot are not reported gone: they may register again. */
  private graceUntil = 0
  /** Announcements received while a snapshot is read; applied after it. */
  private buffered: Announcement[] | undefined
  private reconciling: Promise<void> | undefined
  private again = false
  private failing = false
  private closed = false

  private constructor(
    private readonly store: MembershipStore,
    private readonly connections: RedisConnections,
    private readonly settings: MembershipWatchSettings,
    private readonly onError: (error: Error) => void,
  ) {
    this.subscriber = connections.duplicate('subscriber')
    // Failures surface through the snapshots; this only keeps ioredis from logging them.
    this.subscriber.on('error', () => {})
    this.subscriber.on(connections.isCluster ? 'smessage' : 'message', (_channel: string, message: string) =>
      this.receive(message),
    )
    // After a reconnect ioredis subscribes again by itself; what was announced meanwhile comes from a snapshot.
    this.subscriber.on('ready', () => {
      if (this.timer !== undefined) this.refresh()
    })
  }

  /** Subscribes and reads the members; rejects (leaving nothing open) when Redis does not answer. */
  static async start(
    store: MembershipStore,
    connections: RedisConnections,
    settings: MembershipWatchSettings,
    onError: (error: Error) => void,
  ): Promise<MembershipWatch> {
    const watch = new MembershipWatch(store, connections, settings, onError)
    try {
      const { subscriber } = watch
      await connections.timed(
        connections.isCluster ? subscriber.ssubscribe(store.channel) : subscriber.subscribe(store.channel),
      )
      await watch.reconcile()
    } catch (error) {
      await watch.close()
      throw adapterError('Redis portal queue: cannot watch portal membership', error)
    }
    watch.timer = setInterval(() => watch.refresh(), settings.intervalMs)
    watch.timer.unref()
    return watch
  }

  /** Reports every current member to `listener` as a join, then keeps it informed. */
  add(listener: PortalMembershipListener): Watcher {
    const watcher: Watcher = { listener }
    for (const portalId of this.known) this.notify(watcher, { kind: 'join', portalId })
    this.watchers.add(watcher)
    return watcher
  }

  /** True when the watcher was still registered. */
  remove(watcher: Watcher): boolean {
    return this.watchers.delete(watcher)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.watchers.clear()
    if (this.timer !== undefined) clearInterval(this.timer)
    this.connections.release(this.subscriber)
    await this.reconciling?.catch(() => {})
  }

  private receive(message: string): void {
    const announcement = parseAnnouncement(message)
    if (!announcement) {
      this.onError(new AdapterError(`Redis portal queue: ignored a malformed membership message: ${message.slice(0, 200)}`))
      return
    }
    if (this.buffered) this.buffered.push(announcement)
    else this.apply(announcement)
  }

  private apply(announcement: Announcement): void {
    if (announcement.epoch !== this.epoch) {
      // Redis lost the membership (or this view has not caught up with that yet): only a snapshot can say.
      this.refresh()
      return
    }
    if (announcement.version <= this.seen) return
    if (announcement.version > this.seen + 1) this.refresh()
    this.seen = announcement.version
    this.change(announcement.kind, announcement.portalId)
  }

  private applySnapshot(snapshot: MembershipSnapshot): void {
    if (snapshot.epoch === this.epoch) {
      if (snapshot.version < this.seen) return
    } else if (this.epoch !== undefined) {
      this.graceUntil = Date.now() + this.settings.graceMs
    }
    this.epoch = snapshot.epoch
    this.seen = snapshot.version
    const present = new Set(snapshot.members)
    if (Date.now() >= this.graceUntil) {
      for (const portalId of [...this.known]) if (!present.has(portalId)) this.change('leave', portalId)
    }
    for (const portalId of snapshot.members) if (!this.known.has(portalId)) this.change('join', portalId)
  }

  private change(kind: PortalMembershipEvent['kind'], portalId: string): void {
    if (kind === 'join') {
      if (this.known.has(portalId)) return
      this.known.add(portalId)
    } else if (!this.known.delete(portalId)) {
      return
    }
    for (const watcher of [...this.watchers]) {
      if (this.watchers.has(watcher)) this.notify(watcher, { kind, portalId })
    }
  }

  private notify(watcher: Watcher, event: PortalMembershipEvent): void {
    try {
      watcher.listener(event)
    } catch (error) {
      this.onError(new AdapterError('a portal membership listener threw', { cause: error }))
    }
  }

  /** A snapshot soon, its failure reported once per outage. */
  private refresh(): void {
    if (this.closed) return
    this.reconcile().then(
      () => {
        this.failing = false
      },
      (error: unknown) => {
        if (this.failing || this.closed) return
        this.failing = true
        this.onError(adapterError('Redis portal queue: reading portal membership failed', error))
      },
    )
  }

  /** One snapshot at a time, so their results arrive in Redis's order; a request meanwhile runs another after. */
  private reconcile(): Promise<void> {
    if (this.reconciling) {
      this.again = true
      return this.reconciling
    }
    this.reconciling = this.reconcileLoop().finally(() => {
      this.reconciling = undefined
    })
    return this.reconciling
  }

  private async reconcileLoop(): Promise<void> {
    do {
      this.again = false
      this.buffered = []
      try {
        const snapshot = await this.store.snapshot()
        if (!this.closed) this.applySnapshot(snapshot)
      } finally {
        const buffered = this.buffered ?? []
        this.buffered = undefined
        if (!this.closed) for (const announcement of buffered) this.apply(announcement)
      }
    } while (this.again && !this.closed)
  }
}
