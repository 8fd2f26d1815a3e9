export { type Gateway, type GatewayOptions, type RequestHandler, startGateway } from './gateway.js'
export { type GatewayHooks, runGateway, SHUTDOWN_TIMEOUT_MS } from './run.js'
export {
  CONFIG_FILE_VARIABLE,
  type GatewayConfig,
  GatewayConfigError,
  type GatewaySettings,
  type JwtConfig,
  loadConfig,
  resolveConfig,
} from './config.js'
export { type JwtAlgorithm, LOG_LEVELS, type LogLevel } from './settings.js'
export { createLogger, type GatewayLogger } from './logger.js'
export { REJECTION as JWT_REJECTION } from './jwt-authenticator.js'
export { type GatewayErrorCode, HttpError } from './http/respond.js'
export { type AdminSnapshot, MAX_VIEWERS } from './admin/admin-page.js'
export type { AdapterStatus } from './adapter-health.js'
export type { Sample } from './admin/sampler.js'
