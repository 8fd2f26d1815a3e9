import { ConfigError } from './errors.js'

/**
 * The ConfigError for option `name` given `value`: terse (`invalid backoff.base: 0`), as every byte of it counts
 * against the browser budget; the READMEs give each option's rule.
 */
export const invalidOption = (name: string, value: unknown): ConfigError => new ConfigError(`invalid ${name}: ${value}`)

/**
 * `value` when it is undefined or a finite number >= `least`; a ConfigError naming the option otherwise. One rule
 * and one message for the numeric options of clients, whose every check counts against the browser budget.
 */
export function checkNumber(name: string, value: number | undefined, least = 0): number | undefined {
  if (value === undefined || (Number.isFinite(value) && value >= least)) return value
  throw invalidOption(name, value)
}

/** `value` when it is a safe integer >= 1; a ConfigError naming the option otherwise. */
export function checkPositiveInteger(name: string, value: number): number {
  if (Number.isSafeInteger(value) && value >= 1) return value
  throw new ConfigError(`${name} must be a positive integer, got ${String(value)}`)
}
