import { Redis } from 'ioredis'
import type { RedisCluster } from './redis-cluster.js'

type SlotRange = [from: number, to: number, master: [host: string, port: number, id: string, ...unknown[]], ...unknown[]]

/**
 * Moves hash slots between the masters of a `RedisCluster` with the commands `redis-cli --cluster reshard`
 * uses (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE key by key, SETSLOT NODE), so a test can pick the slots
 * and slow the move down while traffic flows through it.
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

  /** The slot of `key`. */
  async slotOf(key: string): Promise<number> {
    return (await this.admin(this.cluster.nodes[0]!.port).cluster('KEYSLOT', key)) as number
  }

  /** Port of the master that owns `slot`, as every node sees it; undefined while they disagree. */
  async ownerOf(slot: number): Promise<number | undefined> {
    const owners = new Set<number>()
    for (const admin of this.admins.values()) {
      const ranges = (await admin.cluster('SLOTS')) as unknown as SlotRange[]
      const range = ranges.find(([from, to]) => slot >= from && slot <= to)
      owners.add(range ? range[2][1] : -1)
    }
    return owners.size === 1 ? [...owners][0] : undefined
  }

  /**
   * Moves `slot` to the master on port `to`. `paceMs` is waited before each key is migrated and before the
   * move is committed, so that commands meanwhile meet the slot half moved (TRYAGAIN for scripts whose keys
   * are split) and emptied but not yet reassigned (ASK redirections).
   */
  async migrate(slot: number, to: number, paceMs = 0): Promise<void> {
    const from = await this.ownerOf(slot)
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

  /** Sharded subscribers of `channel` on the master owning its slot (0 while the nodes disagree on it). */
  async subscribers(channel: string): Promise<number> {
    const owner = await this.ownerOf(await this.slotOf(channel))
    if (owner === undefined) return 0
    const [, count] = (await this.admin(owner).call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number]
    return count
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
