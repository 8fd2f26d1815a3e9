export declare const LOG_LEVELS: readonly ['debug', 'info', 'warn', 'error']
export type LogLevel = (typeof LOG_LEVELS)[number]

export interface GatewayConfig {
  port: number
  host: string | undefined
  path: string
  namespace: string | undefined
  heartbeat: { enabled: boolean; interval: number; maxAttempts: number }
  reconnectInterval: number
  authentication: { required: boolean; timeout: number; sendUserObject: boolean; disconnectOnFail: boolean }
  sync: { enabled: boolean; redeliveryInterval: number }
  redisUrl: string | undefined
  chat: boolean
  logLevel: LogLevel
}

export declare class GatewayConfigError extends Error {
  readonly problems: string[]
  constructor(problems: string[])
}

export declare function loadConfig(env: Record<string, string | undefined>): GatewayConfig
