import { type GatewayConfig, GatewayConfigError, type GatewaySettings, loadConfig } from './config.js'
import { type Gateway, type GatewayOptions, startGateway } from './gateway.js'
import { createLogger, errorFields, type GatewayLogger } from './logger.js'

/** A drain that has not finished by then is abandoned: the process exits 1 rather than hang. */
export const SHUTDOWN_TIMEOUT_MS = 20_000

/**
 * What code adds to a gateway run as the command runs it: routes, `setup`, and settings the application relies on
 * (e.g. the channel rules its channels need), which override those of the environment.
 */
export type GatewayHooks = Pick<GatewayOptions, 'handleRequest' | 'setup'> & GatewaySettings

/**
 * Runs the gateway as `mesa-gateway` does: configuration from the environment (and `MESA_CONFIG`), exit code 1
 * when it is invalid or the gateway cannot start, drain and exit 0 on SIGTERM or SIGINT (a second signal exits
 * at once). `hooks` attaches application code, e.g. extra routes and `setup(mesa)`, and may fix settings (given
 * the configuration read, it returns what replaces it: `channels: { ...config.channels, rules: {...} }`).
 */
export async function runGateway(hooks?: (config: GatewayConfig, logger: GatewayLogger) => GatewayHooks): Promise<Gateway> {
  let config: GatewayConfig
  try {
    config = loadConfig(process.env)
  } catch (error) {
    if (!(error instanceof GatewayConfigError)) throw error
    createLogger('info').error({ problems: error.problems }, 'invalid configuration')
    process.exit(1)
  }
  const logger = createLogger(config.logLevel)
  let gateway: Gateway
  try {
    gateway = await startGateway({ ...config, ...hooks?.(config, logger), logger })
  } catch (error) {
    logger.error(errorFields(error), 'gateway failed to start')
    process.exit(1)
  }
  let stopping = false
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1)
    stopping = true
    logger.info({ signal }, 'shutting down')
    setTimeout(() => {
      logger.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out')
      process.exit(1)
    }, SHUTDOWN_TIMEOUT_MS).unref()
    gateway.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error(errorFields(error), 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  return gateway
}
