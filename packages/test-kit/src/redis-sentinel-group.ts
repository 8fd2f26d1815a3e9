import { ask } from './redis-ask.js'
import { freePort } from './free-port.js'
import { MASTER_NAME, RedisSentinel } from './redis-sentinel.js'
import { RedisServer } from './redis-server.js'
import { waitFor } from './wait.js'

export interface RedisSentinelGroupOptions {
  /** Sentinels watching the master (quorum: a majority of them). Default 3. */
  sentinels?: number
  /** `sentinel down-after-milliseconds`. Default 1000. */
  downAfterMs?: number
  /** `sentinel failover-timeout`. Default 3000. */
  failoverTimeoutMs?: number
}

/** A reply of `SENTINEL REPLICAS|SENTINELS` (flat field/value arrays) as objects. */
function records(reply: unknown): Record<string, string>[] {
  if (!Array.isArray(reply)) return []
  return reply.map((flat: string[]) => {
    const record: Record<string, string> = {}
    for (let i = 0; i + 1 < flat.length; i += 2) record[flat[i]!] = flat[i + 1]!
    return record
  })
}

/**
 * A master, one replica and a group of Sentinels (quorum: their majority) watching them as `mymaster`, all on
 * free ports without persistence. `start()` returns once every sentinel knows the replica and the other
 * sentinels, so that a failover can be authorized as soon as the master is down.
 */
export class RedisSentinelGroup {
  private constructor(
    readonly master: RedisServer,
    readonly replica: RedisServer,
    private readonly sentinels: RedisSentinel[],
  ) {}

  static async start(options: RedisSentinelGroupOptions = {}): Promise<RedisSentinelGroup> {
    const settings: Required<RedisSentinelGroupOptions> = {
      sentinels: options.sentinels ?? 3,
      downAfterMs: options.downAfterMs ?? 1000,
      failoverTimeoutMs: options.failoverTimeoutMs ?? 3000,
    }
    const master = new RedisServer(await freePort(), { persistent: false })
    const replica = new RedisServer(await freePort(), {
      persistent: false,
      args: ['--replicaof', '127.0.0.1', String(master.port)],
    })
    const sentinels: RedisSentinel[] = []
    const group = new RedisSentinelGroup(master, replica, sentinels)
    try {
      await master.start()
      await replica.start()
      await waitFor(
        'the replica to be in sync with the master',
        async () => String(await ask(replica.port, 'INFO', 'replication')).includes('master_link_status:up'),
        10_000,
        50,
      )
      const quorum = Math.floor(settings.sentinels / 2) + 1
      for (let i = 0; i < settings.sentinels; i++) {
        sentinels.push(
          await RedisSentinel.spawn(master.port, {
            quorum,
            downAfterMs: settings.downAfterMs,
            failoverTimeoutMs: settings.failoverTimeoutMs,
          }),
        )
      }
      // Sentinels find each other through hello messages on the master, published every 2 s.
      await waitFor('every sentinel to know the replica and the other sentinels', () => group.settled(), 15_000, 100)
      return group
    } catch (error) {
      await group.destroy()
      throw error
    }
  }

  /** ioredis options that find the master through the sentinels. */
  get connection(): { sentinels: { host: string; port: number }[]; name: string } {
    return { sentinels: this.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })), name: MASTER_NAME }
  }

  /** The port every sentinel answering names as the master's, or undefined while they disagree. */
  async masterPort(): Promise<number | undefined> {
    const ports = new Set<string>()
    for (const sentinel of this.sentinels) {
      const reply = await ask(sentinel.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)
      if (Array.isArray(reply)) ports.add(String(reply[1]))
    }
    return ports.size === 1 ? Number([...ports][0]) : undefined
  }

  /**
   * Whether the replica has applied everything the master wrote (replication is asynchronous: what it has not
   * received when the master dies is lost with it).
   */
  async replicaCaughtUp(): Promise<boolean> {
    const offset = async (port: number, field: string) =>
      new RegExp(`${field}:(\\d+)`).exec(String(await ask(port, 'INFO', 'replication')))?.[1]
    const written = await offset(this.master.port, 'master_repl_offset')
    return written !== undefined && written === (await offset(this.replica.port, 'slave_repl_offset'))
  }

  /** What `server` says it is (`master`, `slave`), or undefined when it does not answer. */
  async roleOf(server: RedisServer): Promise<string | undefined> {
    return /role:(\w+)/.exec(String(await ask(server.port, 'INFO', 'replication')))?.[1]
  }

  /** `CLIENT PAUSE ms WRITE` on the master: write commands (scripts, PUBLISH) wait unanswered meanwhile. */
  async pauseMasterWrites(ms: number): Promise<void> {
    const reply = await ask(this.master.port, 'CLIENT', 'PAUSE', ms, 'WRITE')
    if (reply !== 'OK') throw new Error(`CLIENT PAUSE answered ${String(reply)}`)
  }

  /** Asks one sentinel to fail over now (no agreement needed: the master is healthy). */
  async failover(): Promise<void> {
    const reply = await ask(this.sentinels[0]!.port, 'SENTINEL', 'FAILOVER', MASTER_NAME)
    if (reply !== 'OK') throw new Error(`SENTINEL FAILOVER answered ${String(reply)}`)
  }

  /** Stops the sentinels, then both servers, and deletes their directories. */
  async destroy(): Promise<void> {
    const results = await Promise.allSettled([
      ...this.sentinels.map((s) => s.destroy()),
      this.master.destroy(),
      this.replica.destroy(),
    ])
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failure) throw failure.reason
  }

  private async settled(): Promise<boolean> {
    for (const sentinel of this.sentinels) {
      const replicas = records(await ask(sentinel.port, 'SENTINEL', 'REPLICAS', MASTER_NAME))
      const others = records(await ask(sentinel.port, 'SENTINEL', 'SENTINELS', MASTER_NAME))
      const replicaUp = replicas.some(
        (r) => r.port === String(this.replica.port) && r.flags === 'slave' && r['master-link-status'] === 'ok',
      )
      if (!replicaUp || others.length !== this.sentinels.length - 1) return false
    }
    return true
  }
}
