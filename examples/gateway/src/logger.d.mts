import type { LogLevel } from './config.mjs'

export type LogFunction = (level: LogLevel, msg: string, fields?: object) => void

export interface Logger {
  log: LogFunction
  debug(msg: string, fields?: object): void
  info(msg: string, fields?: object): void
  warn(msg: string, fields?: object): void
  error(msg: string, fields?: object): void
}

export declare function createLogger(options?: {
  level?: LogLevel
  write?: (line: string) => void
  base?: object
}): Logger
