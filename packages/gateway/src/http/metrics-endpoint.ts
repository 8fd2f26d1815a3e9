import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Mesa } from '@mesa/server'
import { registerMesaMetrics } from '@mesa/server/metrics'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { bearerToken, keyMatches } from './api-key.js'
import { HttpError } from './respond.js'

/**
 * `GET /metrics`: Prometheus text of the gateway's Mesa server (`@mesa/server/metrics`, read from `mesa.stats`
 * on each scrape) and of its process (prom-client's default metrics), from a registry of its own. Behind a
 * bearer token: the metrics token, so that a scraper does not hold the API key (which can send to users), or
 * the API key itself.
 */
export class MetricsEndpoint {
  private readonly registry = new Registry()
  private readonly unregister: () => void

  constructor(
    mesa: Mesa,
    /** Tokens that may scrape (the metrics token, the API key); none: `/metrics` is off. */
    private readonly tokens: readonly string[],
  ) {
    collectDefaultMetrics({ register: this.registry })
    this.unregister = registerMesaMetrics(mesa, this.registry)
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.tokens.length === 0) {
      throw new HttpError(403, 'metrics-disabled', 'metrics are off: set MESA_METRICS_TOKEN (or MESA_API_KEY)')
    }
    const token = bearerToken(req)
    // Every token is compared, so the time taken does not tell which one a request was close to.
    if (!this.tokens.map((key) => keyMatches(token, key)).includes(true)) {
      throw new HttpError(401, 'unauthorized', 'send the metrics token (or the API key) as Authorization: Bearer <token>', {
        'www-authenticate': 'Bearer',
      })
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new HttpError(405, 'method-not-allowed', '/metrics takes GET', { allow: 'GET, HEAD' })
    }
    const body = await this.registry.metrics()
    res.writeHead(200, { 'content-type': this.registry.contentType, 'cache-control': 'no-store' })
    res.end(req.method === 'HEAD' ? undefined : body)
  }

  close(): void {
    this.unregister()
    this.registry.clear()
  }
}
