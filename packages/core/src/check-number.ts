import { ConfigError } from './errors.js'

/**
 * `value` when it is undefined or a finite number >= `least`; a ConfigError naming the option otherwise. One rule
 * and one message for the numeric options of clients, whose every check counts against the browser budget.
 */
export function checkNumber(name: string, value: number | undefined, least = 0): number | undefined {
  if (value === undefined || (Number.isFinite(value) && value >= least)) return value
  throw new ConfigError(`${name} must be a number >= ${least}, got ${value}`)
}
