import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from './free-port.js'
import type { RedisServer } from './redis-server.js'
import { waitFor } from './wait.js'

const run = promisify(execFile)
const live = new Set<ChildProcess>()
// A test worker that dies must not leave sentinels behind.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

/** A Sentinel (`redis-server --sentinel`) on a free port watching one master under the name `mymaster`. */
export class RedisSentinel {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  /** Starts one and waits until it knows `master`. */
  static async start(master: RedisServer): Promise<RedisSentinel> {
    const port = await freePort()
    const dir = mkdtempSync(join(tmpdir(), 'mesa-redis-sentinel-'))
    // Sentinel rewrites its configuration file, so it needs one of its own.
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
    try {
      await waitFor('the sentinel to know its master', async () => {
        try {
          const { stdout } = await run('redis-cli', ['-p', String(port), 'sentinel', 'get-master-addr-by-name', 'mymaster'])
          return stdout.includes(String(master.port))
        } catch {
          return false
        }
      }, 10_000, 50)
    } catch (error) {
      await sentinel.destroy()
      throw error
    }
    return sentinel
  }

  /** SIGKILL, then deletes its directory. */
  async destroy(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
      this.child.kill('SIGKILL')
      await exited
    }
    rmSync(this.dir, { recursive: true, force: true })
  }
}
