import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { ask } from './redis-ask.js'
import { freePort, isPortFree } from './free-port.js'
import { RedisServer, type RedisTarget } from './redis-server.js'
import { waitFor } from './wait.js'

const run = promisify(execFile)

export interface RedisClusterOptions {
  /** Replicas of each of the three masters. Default 0. */
  replicas?: number
  /**
   * `cluster-node-timeout`: how long a master may be unreachable before the others mark it failed and its
   * replica takes over. Default 2000.
   */
  nodeTimeoutMs?: number
}

/** A master and its replicas, as the cluster was created (a failover swaps the roles, not these fields). */
export interface ClusterShard {
  readonly master: RedisServer
  readonly replicas: readonly RedisServer[]
}

/** A port whose cluster bus port (port + 10000) is free as well. */
async function clusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await freePort()
    if (port + 10_000 <= 65_535 && (await isPortFree(port + 10_000))) return port
  }
  throw new Error('no port with a free cluster bus port found in 20 attempts')
}

function field(info: unknown, name: string): string | undefined {
  return new RegExp(`^${name}:(\\S*)`, 'm').exec(String(info))?.[1]
}

/**
 * A local Redis Cluster of three masters on free ports, each with `replicas` replicas (none by default).
 * `nodes` lists the masters first, then the replicas.
 */
export class RedisCluster implements RedisTarget {
  private constructor(
    readonly nodes: readonly RedisServer[],
    readonly shards: readonly ClusterShard[],
  ) {}

  static async start(options: RedisClusterOptions = {}): Promise<RedisCluster> {
    const replicas = options.replicas ?? 0
    const nodeTimeoutMs = options.nodeTimeoutMs ?? 2000
    const nodes: RedisServer[] = []
    const shards: ClusterShard[] = []
    const spawn = async () => {
      const port = await clusterPort()
      const node = new RedisServer(port, {
        args: [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          String(nodeTimeoutMs),
          // A replica's first sync starts at once, not after Redis's 5 s diskless sync delay.
          '--repl-diskless-sync-delay',
          '0',
        ],
      })
      nodes.push(node)
      await node.start()
      return node
    }
    try {
      const masters: RedisServer[] = []
      for (let i = 0; i < 3; i++) masters.push(await spawn())
      await run('redis-cli', [
        '--cluster',
        'create',
        ...masters.map((node) => `127.0.0.1:${node.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ])
      // Each replica is attached to a chosen master (`--cluster-replicas` on create picks the pairs itself).
      for (const master of masters) {
        const id = String(await ask(master.port, 'CLUSTER', 'MYID'))
        const own: RedisServer[] = []
        for (let i = 0; i < replicas; i++) {
          const replica = await spawn()
          await run('redis-cli', [
            '--cluster',
            'add-node',
            `127.0.0.1:${replica.port}`,
            `127.0.0.1:${master.port}`,
            '--cluster-slave',
            '--cluster-master-id',
            id,
          ])
          own.push(replica)
        }
        shards.push({ master, replicas: own })
      }
      const cluster = new RedisCluster([...masters, ...shards.flatMap((s) => s.replicas)], shards)
      await waitFor('the cluster to be ok', () => cluster.isOk(), 20_000, 100)
      return cluster
    } catch (error) {
      await Promise.all(nodes.map((node) => node.destroy()))
      throw error
    }
  }

  get startupNodes(): { host: string; port: number }[] {
    return this.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }))
  }

  get connectionEnv(): Record<string, string> {
    return { REDIS_CLUSTER: JSON.stringify(this.startupNodes) }
  }

  /** The slot of `key`. */
  async slotOf(key: string): Promise<number> {
    for (const node of this.nodes) {
      const slot = await ask(node.port, 'CLUSTER', 'KEYSLOT', key)
      if (typeof slot === 'number') return slot
    }
    throw new Error('no cluster node answers')
  }

  /** The shard (as created) whose nodes serve `slot`. */
  async shardOf(slot: number): Promise<ClusterShard> {
    const ranges = (await ask(this.nodes[0]!.port, 'CLUSTER', 'SLOTS')) as [number, number, [string, number]][]
    const range = ranges.find(([from, to]) => slot >= from && slot <= to)
    const shard = this.shards.find(
      (s) => range && [s.master, ...s.replicas].some((node) => node.port === range[2][1]),
    )
    if (!shard) throw new Error(`no shard serves slot ${slot}`)
    return shard
  }

  /** Port of the master that every node answering names as the owner of `slot`; undefined while they disagree. */
  async ownerOf(slot: number): Promise<number | undefined> {
    const owners = new Set<number>()
    for (const node of this.nodes) {
      const ranges = (await ask(node.port, 'CLUSTER', 'SLOTS')) as [number, number, [string, number]][] | null
      if (!ranges) continue
      const range = ranges.find(([from, to]) => slot >= from && slot <= to)
      owners.add(range ? range[2][1] : -1)
    }
    return owners.size === 1 ? [...owners][0] : undefined
  }

  /** Sharded subscribers of `channel` on the master owning its slot (0 while the nodes disagree on it). */
  async subscribers(channel: string): Promise<number> {
    const owner = await this.ownerOf(await this.slotOf(channel))
    if (owner === undefined) return 0
    const reply = (await ask(owner, 'PUBSUB', 'SHARDNUMSUB', channel)) as [string, number] | null
    return reply?.[1] ?? 0
  }

  /** What `node` says it is (`master`, `slave`), or undefined when it does not answer. */
  async roleOf(node: RedisServer): Promise<string | undefined> {
    return field(await ask(node.port, 'INFO', 'replication'), 'role')
  }

  /**
   * Whether `replica` has applied everything its master wrote (replication is asynchronous: what it has not
   * received when the master dies is lost with it).
   */
  async caughtUp(replica: RedisServer): Promise<boolean> {
    const info = await ask(replica.port, 'INFO', 'replication')
    const port = field(info, 'master_port')
    if (field(info, 'master_link_status') !== 'up' || port === undefined) return false
    const written = field(await ask(Number(port), 'INFO', 'replication'), 'master_repl_offset')
    return written !== undefined && written === field(info, 'slave_repl_offset')
  }

  /** `CLIENT PAUSE ms WRITE` on `node`: write commands (scripts, SPUBLISH) wait unanswered meanwhile. */
  async pauseWrites(node: RedisServer, ms: number): Promise<void> {
    const reply = await ask(node.port, 'CLIENT', 'PAUSE', ms, 'WRITE')
    if (reply !== 'OK') throw new Error(`CLIENT PAUSE answered ${String(reply)}`)
  }

  /** `CLUSTER FAILOVER` on `replica`: it takes over from its (healthy) master, which becomes its replica. */
  async failover(replica: RedisServer): Promise<void> {
    const reply = await ask(replica.port, 'CLUSTER', 'FAILOVER')
    if (reply !== 'OK') throw new Error(`CLUSTER FAILOVER answered ${String(reply)}`)
  }

  /** Every node answers with `cluster_state:ok`, and every replica is in sync and known to every node. */
  private async isOk(): Promise<boolean> {
    for (const node of this.nodes) {
      if (field(await ask(node.port, 'CLUSTER', 'INFO'), 'cluster_state') !== 'ok') return false
    }
    for (const replica of this.shards.flatMap((s) => s.replicas)) {
      if (field(await ask(replica.port, 'INFO', 'replication'), 'master_link_status') !== 'up') return false
      const id = String(await ask(replica.port, 'CLUSTER', 'MYID'))
      for (const node of this.nodes) {
        const line = String(await ask(node.port, 'CLUSTER', 'NODES'))
          .split('\n')
          .find((l) => l.startsWith(id))
        if (!line?.split(' ')[2]?.includes('slave')) return false
      }
    }
    return true
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.destroy()))
  }
}
