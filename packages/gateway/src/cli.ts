#!/usr/bin/env node
import { createLogger, errorFields } from './logger.js'
import { runGateway } from './run.js'

// `mesa-gateway`: see runGateway and the README for the variables.
runGateway().catch((error: unknown) => {
  createLogger('info').error(errorFields(error), 'gateway crashed')
  process.exit(1)
})
