import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from './free-port.js'
import type { RedisServer } from './redis-server.js'
import { waitFor, withTimeout } from './wait.js'

/** The name every sentinel of the harness watches its master under. */
export const MASTER_NAME = 'mymaster'

const run = promisify(execFile)
const live = new Set<ChildProcess>()
// A test worker that dies must not leave sentinels behind.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

/** How a sentinel judges its master: `sentinel monitor` quorum and timeouts. */
export interface SentinelSettings {
  quorum: number
  /** `sentinel down-after-milliseconds`. */
  downAfterMs: number
  /** `sentinel failover-timeout`; Sentinel's default when absent. */
  failoverTimeoutMs?: number
}

/** A Sentinel (`redis-server --sentinel`) on a free port watching one master under the name `mymaster`. */
export class RedisSentinel {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  /** Starts one alone (quorum 1) and waits until it knows `master`. */
  static async start(master: RedisServer): Promise<RedisSentinel> {
    const sentinel = await RedisSentinel.spawn(master.port, { quorum: 1, downAfterMs: 2000 })
    try {
      await waitFor(
        'the sentinel to know its master',
        async () => {
          try {
            const { stdout } = await run('redis-cli', [
              '-p',
              String(sentinel.port),
              'sentinel',
              'get-master-addr-by-name',
              MASTER_NAME,
            ])
            return stdout.includes(String(master.port))
          } catch {
            return false
          }
        },
        10_000,
        50,
      )
    } catch (error) {
      await sentinel.destroy()
      throw error
    }
    return sentinel
  }

  /**
   * Starts one watching the master on `masterPort` and returns without waiting for it: a group waits for all
   * of its sentinels at once.
   */
  static async spawn(masterPort: number, settings: SentinelSettings): Promise<RedisSentinel> {
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
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} ${settings.quorum}`,
        `sentinel down-after-milliseconds ${MASTER_NAME} ${settings.downAfterMs}`,
        ...(settings.failoverTimeoutMs === undefined
          ? []
          : [`sentinel failover-timeout ${MASTER_NAME} ${settings.failoverTimeoutMs}`]),
        '',
      ].join('\n'),
    )
    const child = spawn('redis-server', [config, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] })
    live.add(child)
    child.once('exit', () => live.delete(child))
    child.stdout?.resume()
    child.stderr?.resume()
    return new RedisSentinel(port, child, dir)
  }

  /** SIGKILL, then deletes its directory. */
  async destroy(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
      this.child.kill('SIGKILL')
      await withTimeout('a sentinel to exit', exited, 5000)
    }
    rmSync(this.dir, { recursive: true, force: true })
  }
}
