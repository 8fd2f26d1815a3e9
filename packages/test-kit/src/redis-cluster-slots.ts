import { Redis } from 'ioredis'
import type { RedisCluster } from './redis-cluster.js'

/**
 * Moves hash slots between the masters of a `RedisCluster` with the commands `redis-cli --cluster reshard`
 * uses (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE key by key, SETSLOT NODE), so a test can pick the slots
 * and slow the move down while traffic flows through it. Where slots are and who subscribes to a channel:
 * `RedisCluster` (`ownerOf`, `slotOf`, `subscribers`).
 */
export class ClusterSlots {
  private readonly admins: Map<number, Redis>

  constructor(private readonly cluster: RedisCluster) {
    this.admins = new Map(
      cluster.nodes.map((node) => {
        const admin = new Redis({ port: node.port, host: '127.0.0.1', maxRetriesPerRequest: 1 })
        admin.on('error', () => {})
        return [node.port, admin]
      }),
    )
  }

  /**
   * Moves `slot` to the master on port `to`. `paceMs` is waited before each key is migrated and before the
   * move is committed, so that commands meanwhile meet the slot half moved (TRYAGAIN for scripts whose keys
   * are split) and emptied but not yet reassigned (ASK redirections).
   */
  async migrate(slot: number, to: number, paceMs = 0): Promise<void> {
    const from = await this.cluster.ownerOf(slot)
    if (from === undefined) throw new Error(`the nodes disagree on who owns slot ${slot}`)
    if (from === to) return
    const source = this.admin(from)
    const target = this.admin(to)
    const [sourceId, targetId] = await Promise.all([source.cluster('MYID'), target.cluster('MYID')])
    await target.cluster('SETSLOT', slot, 'IMPORTING', sourceId)
    await source.cluster('SETSLOT', slot, 'MIGRATING', targetId)
    const pace = () => (paceMs > 0 ? new Promise((resolve) => setTimeout(resolve, paceMs)) : undefined)
    for (;;) {
      await pace()
      const [key] = (await source.cluster('GETKEYSINSLOT', slot, 1)) as string[]
      if (key === undefined) break
      await source.migrate('127.0.0.1', to, '', 0, 5000, 'KEYS', key)
    }
    // The target first, so that it answers for the slot before the source starts redirecting there.
    await target.cluster('SETSLOT', slot, 'NODE', targetId)
    await source.cluster('SETSLOT', slot, 'NODE', targetId)
    for (const [port, admin] of this.admins) {
      if (port !== from && port !== to) await admin.cluster('SETSLOT', slot, 'NODE', targetId)
    }
  }

  /** Redirections and retries the masters answered with so far (`INFO errorstats`), summed. */
  async redirections(): Promise<{ MOVED: number; ASK: number; TRYAGAIN: number }> {
    const totals = { MOVED: 0, ASK: 0, TRYAGAIN: 0 }
    for (const admin of this.admins.values()) {
      const stats = String(await admin.info('errorstats'))
      for (const kind of Object.keys(totals) as (keyof typeof totals)[]) {
        totals[kind] += Number(new RegExp(`errorstat_${kind}:count=(\\d+)`).exec(stats)?.[1] ?? 0)
      }
    }
    return totals
  }

  close(): void {
    for (const admin of this.admins.values()) admin.disconnect()
  }

  private admin(port: number): Redis {
    const admin = this.admins.get(port)
    if (!admin) throw new Error(`no cluster node on port ${port}`)
    return admin
  }
}
