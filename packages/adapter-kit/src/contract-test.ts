import type { ContractContext } from './context.js'

/** What a test of the contract gets: its context, and `skip` for what the adapter leaves out (optional methods). */
export type ContractBody = (t: ContractContext, skip: (note?: string) => void) => Promise<void>

/**
 * Declares one test of the contract. `sharedBackend`: the test needs adapters that share a backend, and is
 * skipped for a single-process adapter.
 */
export type ContractTest = (name: string, body: ContractBody, needs?: { sharedBackend?: boolean }) => void
