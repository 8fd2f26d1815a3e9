import { pino } from 'pino'
import type { LogLevel } from './settings.js'

type LogMethod = (fields: object, message?: string) => void

/**
 * What the gateway logs through: pino's method signature (`logger.info({ port }, 'listening')`), so pino
 * itself, or anything shaped like it, fits.
 */
export interface GatewayLogger {
  debug: LogMethod
  info: LogMethod
  warn: LogMethod
  error: LogMethod
}

/** The default logger: pino, one JSON object per line on stdout, at `level`. */
export function createLogger(level: LogLevel): GatewayLogger {
  return pino({ level, base: { service: 'mesa-gateway', pid: process.pid } })
}

/** The fields of an error worth a log line: its message and stable code, not a stack for expected failures. */
export function errorFields(error: unknown): { error: string; code?: string } {
  if (!(error instanceof Error)) return { error: String(error) }
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' ? { error: error.message, code } : { error: error.message }
}
