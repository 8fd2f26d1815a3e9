#!/usr/bin/env node
import { GatewayConfigError, loadConfig } from './config.js'
import { type Gateway, startGateway } from './gateway.js'
import { createLogger, errorFields } from './logger.js'

/** A drain that has not finished by then is abandoned: the process exits 1 rather than hang. */
const SHUTDOWN_TIMEOUT_MS = 20_000

/**
 * `mesa-gateway`: configured by environment variables (and `MESA_CONFIG`); exit code 1 on invalid
 * configuration or when it cannot start; on SIGTERM or SIGINT it drains and exits 0.
 */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>
  try {
    config = loadConfig(process.env)
  } catch (error) {
    if (!(error instanceof GatewayConfigError)) throw error
    createLogger('info').error({ problems: error.problems }, 'invalid configuration')
    process.exit(1)
  }
  const log = createLogger(config.logLevel)
  let gateway: Gateway
  try {
    gateway = await startGateway({ ...config, logger: log })
  } catch (error) {
    log.error(errorFields(error), 'gateway failed to start')
    process.exit(1)
  }
  let stopping = false
  const stop = (signal: NodeJS.Signals) => {
    // A second signal while draining: the operator wants out now.
    if (stopping) process.exit(1)
    stopping = true
    log.info({ signal }, 'shutting down')
    setTimeout(() => {
      log.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out')
      process.exit(1)
    }, SHUTDOWN_TIMEOUT_MS).unref()
    gateway.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error(errorFields(error), 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((error: unknown) => {
  createLogger('info').error(errorFields(error), 'gateway crashed')
  process.exit(1)
})
