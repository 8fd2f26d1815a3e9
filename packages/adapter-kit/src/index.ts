// @mesa/adapter-kit: the contract a Mesa adapter fulfils, as vitest suites. docs/adapters.md in the Mesa
// repository says what each method must do; `runAdapterContract` checks it.
export { runAdapterContract } from './contract.js'
export type { AdapterContractOptions, ContractSettings } from './options.js'
