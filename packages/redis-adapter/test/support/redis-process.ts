import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const live = new Set<ChildProcess>()
// A test worker that dies must not leave redis-server processes behind.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** A free port whose cluster bus port (port + 10000) is free too. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000)
    if ((await portIsFree(port)) && (await portIsFree(port + 10_000))) return port
  }
  throw new Error('no free port pair found')
}

export async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A private redis-server without persistence: a restart loses everything, as a cache-only Redis would. */
export class RedisProcess {
  private child: ChildProcess | undefined
  private readonly dir = mkdtempSync(join(tmpdir(), 'mesa-redis-adapter-'))

  constructor(
    readonly port: number,
    private readonly extraArgs: string[] = [],
  ) {}

  static async start(extraArgs: string[] = []): Promise<RedisProcess> {
    const redis = new RedisProcess(await freePort(), extraArgs)
    await redis.start()
    return redis
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  async start(): Promise<void> {
    if (this.child) return
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'no',
        ...this.extraArgs,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    live.add(child)
    this.child = child
    child.once('exit', () => {
      live.delete(child)
      if (this.child === child) this.child = undefined
    })
    let output = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server :${this.port} not ready:\n${output}`)), 10_000)
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer)
          resolve()
        }
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`redis-server exited with ${code}:\n${output}`))
      })
    }).catch((error: unknown) => {
      child.kill('SIGKILL')
      throw error
    })
    child.stderr?.resume()
  }

  /** SIGKILL: the abrupt stop a crash or OOM kill gives. */
  async kill(): Promise<void> {
    const child = this.child
    if (!child) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill('SIGKILL')
    await exited
  }

  async destroy(): Promise<void> {
    await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** A local three-master Redis Cluster, no replicas. */
export class RedisCluster {
  private constructor(readonly nodes: RedisProcess[]) {}

  static async start(): Promise<RedisCluster> {
    const nodes: RedisProcess[] = []
    try {
      for (let i = 0; i < 3; i++) {
        const port = await freePort()
        const node = new RedisProcess(port, [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          '2000',
        ])
        nodes.push(node)
        await node.start()
      }
      await run('redis-cli', [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ])
      const cluster = new RedisCluster(nodes)
      await until('the cluster to be ok', () => cluster.isOk(), 20_000)
      return cluster
    } catch (error) {
      await Promise.all(nodes.map((n) => n.destroy()))
      throw error
    }
  }

  get startupNodes(): { host: string; port: number }[] {
    return this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }))
  }

  private async isOk(): Promise<boolean> {
    for (const node of this.nodes) {
      const { stdout } = await run('redis-cli', ['-p', String(node.port), 'cluster', 'info'])
      if (!stdout.includes('cluster_state:ok')) return false
    }
    return true
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.destroy()))
  }
}

/** A Sentinel (redis-server --sentinel) watching one master under the name `mymaster`. */
export class RedisSentinel {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  static async start(master: RedisProcess): Promise<RedisSentinel> {
    const port = await freePort()
    const dir = mkdtempSync(join(tmpdir(), 'mesa-redis-sentinel-'))
    const config = join(dir, 'sentinel.conf')
    writeFileSync(
      config,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
        'sentinel down-after-milliseconds mymaster 2000',
        '',
      ].join('\n'),
    )
    const child = spawn('redis-server', [config, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] })
    live.add(child)
    child.once('exit', () => live.delete(child))
    child.stdout?.resume()
    child.stderr?.resume()
    const sentinel = new RedisSentinel(port, child, dir)
    await until('the sentinel to know its master', async () => {
      try {
        const { stdout } = await run('redis-cli', ['-p', String(port), 'sentinel', 'get-master-addr-by-name', 'mymaster'])
        return stdout.includes(String(master.port))
      } catch {
        return false
      }
    })
    return sentinel
  }

  async destroy(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
      this.child.kill('SIGKILL')
      await exited
    }
    rmSync(this.dir, { recursive: true, force: true })
  }
}
