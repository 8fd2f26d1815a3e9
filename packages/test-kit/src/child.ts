import { type ChildProcess, fork } from 'node:child_process'
import { bundleFixture } from './fixture-bundle.js'
import { withTimeout } from './wait.js'

interface ReadyMessage {
  type: 'ready'
  info: Record<string, unknown>
}
interface ReplyMessage {
  type: 'reply'
  id: number
  ok: boolean
  result?: unknown
  error?: { name: string; message: string; code?: string }
}
interface EventMessage {
  type: 'event'
  event: ChildEvent
}
type FromChild = ReadyMessage | ReplyMessage | EventMessage

/** Something a fixture reported (`report({ kind, ... })` of `@mesa/test-kit/rpc`). */
export interface ChildEvent {
  kind: string
  [field: string]: unknown
}

/** An error a child's method threw, rebuilt in the test process. */
export class ChildCallError extends Error {
  readonly code: string | undefined
  readonly remoteName: string

  constructor(name: string, message: string, code: string | undefined) {
    super(message)
    this.name = 'ChildCallError'
    this.remoteName = name
    this.code = code
  }
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

/** Kept per child for diagnostics: enough to show why a fixture failed, bounded so a chatty child cannot grow it. */
const MAX_OUTPUT = 64 * 1024

/**
 * A fixture process driven over the IPC channel: the fixture serves methods and reports events with
 * `@mesa/test-kit/rpc` (`src/rpc.mjs`); `call(method, ...args)` runs one of its methods, `events` collects
 * what it reports. Every child is killed when the test process exits.
 */
export class Child {
  readonly name: string
  readonly events: ChildEvent[] = []
  info: Record<string, unknown> = {}
  private readonly process: ChildProcess
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
  private readonly listeners = new Set<(event: ChildEvent) => void>()
  private nextId = 0
  private output = ''
  private exitCode: number | null | undefined
  private exitSignal: NodeJS.Signals | null | undefined
  private killedOnPurpose = false
  private readonly exited: Promise<void>

  private constructor(name: string, script: string, env: Record<string, string>) {
    this.name = name
    this.process = fork(script, [], {
      env: { ...process.env, ...env },
      execArgv: [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    })
    live.add(this.process)
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-MAX_OUTPUT)
    }
    this.process.stdout?.on('data', keep)
    this.process.stderr?.on('data', keep)
    this.process.on('message', (message: FromChild) => this.receive(message))
    this.exited = new Promise((resolve) => {
      this.process.once('exit', (code, signal) => {
        live.delete(this.process)
        this.exitCode = code
        this.exitSignal = signal
        for (const { reject } of this.pending.values()) reject(new Error(`${this.name} exited (${code ?? signal})`))
        this.pending.clear()
        resolve()
      })
    })
  }

  /**
   * Starts `script` and waits for its `ready` report (with whatever `info` it sends, e.g. its port). A `.ts`
   * script is bundled first, with the workspace packages from their sources (see `bundleFixture`).
   */
  static async start(
    name: string,
    script: string,
    env: Record<string, string> = {},
    timeoutMs = 15_000,
  ): Promise<Child> {
    const file = script.endsWith('.ts') ? await bundleFixture(script) : script
    const child = new Child(name, file, env)
    const ready = new Promise<void>((resolve, reject) => {
      child.process.on('message', (message: FromChild) => {
        if (message.type === 'ready') {
          child.info = message.info
          resolve()
        }
      })
      void child.exited.then(() => reject(new Error(`${name} exited before it was ready:\n${child.output}`)))
    })
    try {
      await withTimeout(`${name} to start`, ready, timeoutMs)
    } catch (error) {
      await child.kill()
      throw error
    }
    return child
  }

  get pid(): number | undefined {
    return this.process.pid
  }

  get alive(): boolean {
    return this.exitCode === undefined
  }

  /** True when the child exited without being killed or closed by the test: a crash. */
  get crashed(): boolean {
    return this.exitCode !== undefined && !this.killedOnPurpose && this.exitCode !== 0
  }

  /** How the child ended: exit code or signal; undefined while it runs. */
  get exitStatus(): string | undefined {
    if (this.exitCode === undefined) return undefined
    return this.exitSignal ? `signal ${this.exitSignal}` : `code ${this.exitCode}`
  }

  /** What the child wrote to stdout and stderr (last 64 KB). */
  get log(): string {
    return this.output
  }

  call<T = unknown>(method: string, ...args: unknown[]): Promise<T> {
    if (!this.alive || !this.process.connected) return Promise.reject(new Error(`${this.name} is not running`))
    const id = this.nextId++
    const reply = new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
    })
    this.process.send({ type: 'call', id, method, args })
    return withTimeout(`${this.name}.${method}()`, reply as Promise<T>, 20_000)
  }

  onEvent(listener: (event: ChildEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  eventsOf(kind: string): ChildEvent[] {
    return this.events.filter((event) => event.kind === kind)
  }

  /** kill -9 by default: no cleanup of any kind runs in the child. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.alive) return
    this.killedOnPurpose = true
    this.process.kill(signal)
    await this.exited
  }

  /** Asks the child to shut down cleanly (`close` method), then kills it if it has not exited within 10 s. */
  async stop(): Promise<void> {
    if (!this.alive) return
    this.killedOnPurpose = true
    try {
      await withTimeout(`${this.name} to close`, this.call('close'), 10_000)
      await withTimeout(`${this.name} to exit`, this.exited, 10_000)
    } catch {
      await this.kill()
    }
  }

  private receive(message: FromChild): void {
    if (message.type === 'reply') {
      const waiting = this.pending.get(message.id)
      if (!waiting) return
      this.pending.delete(message.id)
      if (message.ok) waiting.resolve(message.result)
      else {
        const { name, message: text, code } = message.error ?? { name: 'Error', message: 'unknown failure' }
        waiting.reject(new ChildCallError(name, text, code))
      }
    } else if (message.type === 'event') {
      this.events.push(message.event)
      for (const listener of this.listeners) listener(message.event)
    }
  }
}
