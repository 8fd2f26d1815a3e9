import { GatewayConfigError, loadConfig } from './config.mjs'
import { startGateway } from './gateway.mjs'
import { createLogger } from './logger.mjs'

let config
try {
  config = loadConfig(process.env)
} catch (error) {
  if (!(error instanceof GatewayConfigError)) throw error
  createLogger().error('invalid configuration', { problems: error.problems })
  process.exit(1)
}

const logger = createLogger({ level: config.logLevel })
let gateway
try {
  gateway = await startGateway(config, logger)
} catch (error) {
  logger.error('gateway failed to start', { error: error.message, code: error.code })
  process.exit(1)
}
if (config.chat) logger.info(`chat page at http://localhost:${gateway.port}/`)

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    logger.info('shutting down', { signal })
    gateway.close().then(
      () => process.exit(0),
      (error) => {
        logger.error('shutdown failed', { error: error.message })
        process.exit(1)
      },
    )
  })
}
