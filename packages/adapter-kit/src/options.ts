import type { Adapter } from '@mesa/core/server'

/**
 * What the kit asks of the adapter it creates for a test. Map each field onto your adapter's options; add
 * your own tuning (fast polling, short intervals) in `create`.
 */
export interface ContractSettings {
  /**
   * The namespace to connect to. Adapters created with the same namespace share everything (envelopes,
   * presence, history, the portal queue), as the servers of one deployment do; different namespaces share
   * nothing. Unique per test (from `AdapterContractOptions.namespace`).
   */
  readonly namespace: string
  /**
   * Retention of the message store: entries kept per stream, their maximum age (ms), and the bytes kept per
   * stream (each entry's frame and `excluding` list as JSON, in UTF-8).
   */
  readonly retention: { readonly maxEntries: number; readonly maxAgeMs: number; readonly maxBytes: number }
  /**
   * The portal queue: `maxPending` unhandled events (waiting or being handled), or `maxPendingBytes` of them
   * (each event as its JSON in UTF-8), before `push` rejects with `PortalQueueFullError`; `claimTimeoutMs`
   * after which an event a portal took but did not finish goes to another.
   */
  readonly portal: {
    readonly maxPending: number
    readonly maxPendingBytes: number
    readonly claimTimeoutMs: number
  }
  /**
   * The clock the store stamps and ages entries with (ms since the Unix epoch), for adapters that take one
   * (`clock: 'injected'`); the kit moves it forward instead of waiting. Ignore it otherwise.
   */
  readonly now: () => number
}

export interface AdapterContractOptions<A extends Adapter = Adapter> {
  /** Names the suite: `Adapter contract: <name>`. */
  name: string
  /**
   * A new adapter on `settings.namespace`, connected to the same backend every time (a database, a broker):
   * the kit creates several per test and closes each after the test. May return a promise.
   */
  create: (settings: ContractSettings) => A | Promise<A>
  /**
   * Runs after each test, once every adapter the kit created was closed: delete what the test's namespaces
   * left in your backend (keys, rows, streams). Default: nothing.
   */
  cleanup?: (namespaces: readonly string[]) => unknown
  /**
   * A fresh namespace for a test. Default: `contract-` and 12 random hex digits (letters, digits and `-` only,
   * which every backend accepts).
   */
  namespace?: () => string
  /**
   * true for an adapter that serves one process and whose instances share nothing (`MemoryAdapter`): where the
   * contract needs two adapters on one namespace (two servers), it uses one instance twice, and it leaves out
   * what only a shared backend can show (an adapter closing takes only its own sockets offline). Default false.
   */
  singleProcess?: boolean
  /**
   * `'injected'`: the store reads the time from `settings.now`, which the kit moves forward, so the age tests
   * take no time. `'real'` (default): the store has a clock of its own (a database server's); the kit waits
   * real time, about 3 s over the age tests.
   */
  clock?: 'injected' | 'real'
  /**
   * How long the kit waits for something asynchronous (a delivery, a redelivery, a membership report) before
   * failing. Each test may take up to three times this. Default 10000 (ms).
   */
  timeoutMs?: number
}

/** The settings every test starts from; a test overrides what it is about. */
export const DEFAULT_SETTINGS = {
  retention: { maxEntries: 1000, maxAgeMs: 24 * 60 * 60 * 1000, maxBytes: 16 * 1024 * 1024 },
  portal: { maxPending: 1000, maxPendingBytes: 64 * 1024 * 1024, claimTimeoutMs: 30_000 },
} as const
