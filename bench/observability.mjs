// What an operator turns on, for `pnpm bench` to measure against a server without it: @mesa/server/metrics in a
// registry scraped every 250 ms (Prometheus scrapes every 15 s or so: this is far more often), and a pino logger
// at `info` writing to /dev/null.
import pino from '../packages/server/node_modules/pino/pino.js'
import promClient from '../packages/server/node_modules/prom-client/index.js'
import { registerMesaMetrics } from '../packages/server/dist/metrics.js'

const SCRAPE_INTERVAL_MS = 250

export function benchLogger() {
  return pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false }))
}

/** Registers the server's metrics and scrapes them until the returned function is called. */
export function scrapedMetrics(mesa) {
  const registry = new promClient.Registry()
  const unregister = registerMesaMetrics(mesa, registry)
  const timer = setInterval(() => void registry.metrics(), SCRAPE_INTERVAL_MS)
  return () => {
    clearInterval(timer)
    unregister()
  }
}
