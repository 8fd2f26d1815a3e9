import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './free-port.js'
import { withTimeout } from './wait.js'

const live = new Set<ChildProcess>()
// A test worker that dies must not leave redis-server processes behind.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

/** Where fixture processes find Redis: the environment variables fixtures/redis-connection.mjs reads. */
export interface RedisTarget {
  readonly connectionEnv: Record<string, string>
}

export interface RedisServerOptions {
  /**
   * true (default): an append-only file fsynced on every write, so that a restart (`stop()` then `start()`)
   * keeps the data, as a production Redis with AOF would. false: nothing is kept, so a restart loses
   * everything, as a cache-only Redis would.
   */
  persistent?: boolean
  /** More `redis-server` arguments (cluster mode, for one). */
  args?: readonly string[]
}

/** A private `redis-server` on a free port; `destroy()` stops it and deletes its data directory. */
export class RedisServer implements RedisTarget {
  readonly port: number
  private readonly dir: string
  private readonly args: readonly string[]
  private child: ChildProcess | undefined
  private paused = false

  constructor(port: number, options: RedisServerOptions = {}) {
    this.port = port
    const persistence =
      options.persistent === false ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', 'always']
    this.args = [...persistence, ...(options.args ?? [])]
    this.dir = mkdtempSync(join(tmpdir(), 'mesa-redis-'))
  }

  /** Starts a persistent one on `port` (default: a free one). */
  static async start(port?: number): Promise<RedisServer> {
    const server = new RedisServer(port ?? (await freePort()))
    await server.start()
    return server
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  get connectionEnv(): Record<string, string> {
    return { REDIS_URL: this.url }
  }

  get running(): boolean {
    return this.child !== undefined
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
        '--protected-mode',
        'no',
        ...this.args,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    live.add(child)
    this.child = child
    let output = ''
    const ready = new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes('Ready to accept connections')) {
          child.stdout?.off('data', onData)
          resolve()
        }
      }
      child.stdout?.on('data', onData)
      child.once('exit', (code) =>
        reject(new Error(`redis-server exited with ${code} before it was ready:\n${output}`)),
      )
    })
    child.once('exit', () => {
      live.delete(child)
      if (this.child === child) this.child = undefined
    })
    try {
      await withTimeout(`redis-server on port ${this.port}`, ready, 10_000)
    } catch (error) {
      child.kill('SIGKILL')
      throw error
    }
    child.stdout?.resume()
    child.stderr?.resume()
  }

  /**
   * SIGSTOP: a hung Redis. Its sockets stay open and the kernel still accepts what clients write, but nothing
   * is answered (and no connection is refused) until `resume()`.
   */
  pause(): void {
    if (!this.child || this.paused) return
    this.child.kill('SIGSTOP')
    this.paused = true
  }

  /** SIGCONT after `pause()`: Redis runs what was written to it meanwhile, in order, and answers. */
  resume(): void {
    if (!this.child || !this.paused) return
    this.child.kill('SIGCONT')
    this.paused = false
  }

  /** SIGTERM: Redis finishes its append-only file and exits; SIGKILL if it is not gone within 5 s. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child
    if (!child) return
    // A stopped process acts on no signal but SIGKILL until it is continued.
    this.resume()
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill(signal)
    try {
      await withTimeout('redis-server to exit', exited, 5000)
    } catch {
      child.kill('SIGKILL')
      await exited
    }
  }

  /** Stops the server and deletes its data directory. */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL')
    rmSync(this.dir, { recursive: true, force: true })
  }
}
