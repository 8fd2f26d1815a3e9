import { randomBytes } from 'node:crypto'
import type { Adapter } from '@mesa/core/server'
import { vi } from 'vitest'
import { type AdapterContractOptions, type ContractSettings, DEFAULT_SETTINGS } from './options.js'

/** What a test changes from the default settings. */
export interface SettingsOverride {
  namespace?: string
  retention?: Partial<ContractSettings['retention']>
  portal?: Partial<ContractSettings['portal']>
}

function randomNamespace(): string {
  return `contract-${randomBytes(6).toString('hex')}`
}

/**
 * One test's view of the adapter under contract: creates adapters (closing them after the test), moves or
 * waits out the store's clock, and waits for asynchronous outcomes with the suite's deadline.
 */
export class ContractContext {
  readonly timeoutMs: number
  private readonly adapters: Adapter[] = []
  private readonly namespaces: string[] = []
  private readonly injectedClock: boolean
  private time = Date.now()

  constructor(private readonly options: AdapterContractOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000
    this.injectedClock = options.clock === 'injected'
  }

  get singleProcess(): boolean {
    return this.options.singleProcess === true
  }

  /** A fresh namespace, handed to `cleanup` after the test. */
  namespace(): string {
    const namespace = (this.options.namespace ?? randomNamespace)()
    this.namespaces.push(namespace)
    return namespace
  }

  /** A new adapter, on a fresh namespace unless `override.namespace` names one; closed after the test. */
  async adapter(override: SettingsOverride = {}): Promise<Adapter> {
    const settings: ContractSettings = {
      namespace: override.namespace ?? this.namespace(),
      retention: { ...DEFAULT_SETTINGS.retention, ...override.retention },
      portal: { ...DEFAULT_SETTINGS.portal, ...override.portal },
      now: () => this.time,
    }
    const adapter = await this.options.create(settings)
    this.adapters.push(adapter)
    return adapter
  }

  /**
   * Two adapters on one namespace, as two servers of one deployment have; one instance twice for a
   * single-process adapter.
   */
  async pair(override: SettingsOverride = {}): Promise<[Adapter, Adapter]> {
    const namespace = override.namespace ?? this.namespace()
    const first = await this.adapter({ ...override, namespace })
    if (this.singleProcess) return [first, first]
    return [first, await this.adapter({ ...override, namespace })]
  }

  /** Now, on the store's clock (within a few ms for a real one). */
  now(): number {
    return this.injectedClock ? this.time : Date.now()
  }

  /** Lets `ms` pass on the store's clock: moves the injected clock forward, or waits that long. */
  async pass(ms: number): Promise<void> {
    if (this.injectedClock) this.time += ms
    else await new Promise((resolve) => setTimeout(resolve, ms))
  }

  /** Resolves with what `check` returns once it is truthy; fails naming `what` after the suite's deadline. */
  async until<T>(what: string, check: () => T | Promise<T>): Promise<T> {
    try {
      return (await vi.waitUntil(check, { timeout: this.timeoutMs, interval: 10 })) as T
    } catch {
      throw new Error(`${this.options.name}: timed out after ${this.timeoutMs} ms waiting for ${what}`)
    }
  }

  /** Closes every adapter the test created (a failing close fails the test), then runs the suite's cleanup. */
  async cleanup(): Promise<void> {
    const closed = await Promise.allSettled(this.adapters.splice(0).map((adapter) => adapter.close()))
    await this.options.cleanup?.(this.namespaces.splice(0))
    const failed = closed.find((result) => result.status === 'rejected')
    if (failed) throw new Error(`${this.options.name}: close() rejected`, { cause: failed.reason })
  }
}
