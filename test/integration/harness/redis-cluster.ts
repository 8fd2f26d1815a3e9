import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { freePort, isPortFree } from './free-port.js'
import { RedisServer, type RedisTarget } from './redis-server.js'
import { waitFor } from './wait.js'

const run = promisify(execFile)

/** A port whose cluster bus port (port + 10000) is free as well. */
async function clusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await freePort()
    if (port + 10_000 <= 65_535 && (await isPortFree(port + 10_000))) return port
  }
  throw new Error('no port with a free cluster bus port found in 20 attempts')
}

/** A local Redis Cluster of three masters and no replicas, on free ports. */
export class RedisCluster implements RedisTarget {
  private constructor(readonly nodes: readonly RedisServer[]) {}

  static async start(): Promise<RedisCluster> {
    const nodes: RedisServer[] = []
    try {
      for (let i = 0; i < 3; i++) {
        const port = await clusterPort()
        const node = new RedisServer(port, {
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000'],
        })
        nodes.push(node)
        await node.start()
      }
      await run('redis-cli', [
        '--cluster',
        'create',
        ...nodes.map((node) => `127.0.0.1:${node.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ])
      const cluster = new RedisCluster(nodes)
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

  private async isOk(): Promise<boolean> {
    for (const node of this.nodes) {
      const { stdout } = await run('redis-cli', ['-p', String(node.port), 'cluster', 'info'])
      if (!stdout.includes('cluster_state:ok')) return false
    }
    return true
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.destroy()))
  }
}
