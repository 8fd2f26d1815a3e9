import type { IncomingMessage } from 'node:http'

/** Where a client may put a credential in its upgrade request (`authentication.upgradeCredentials`, resolved). */
export interface UpgradeCredentialSources {
  /** Query parameter name (`?token=…`: what a browser's `new WebSocket(url)` can send). */
  query: string | undefined
  /** Header name, lower case (Node's `request.headers` keys). */
  header: string | undefined
}

/**
 * The credential a client gave with its WebSocket upgrade: the header when the request has it, else the query
 * parameter; undefined when neither is configured or present (empty values count as absent).
 */
export function readUpgradeCredentials(request: IncomingMessage, sources: UpgradeCredentialSources): string | undefined {
  if (sources.header !== undefined) {
    const value = request.headers[sources.header]
    const first = Array.isArray(value) ? value[0] : value
    if (first !== undefined && first.length > 0) return first
  }
  if (sources.query !== undefined && request.url !== undefined) {
    const start = request.url.indexOf('?')
    if (start === -1) return undefined
    const value = new URLSearchParams(request.url.slice(start + 1)).get(sources.query)
    if (value !== null && value.length > 0) return value
  }
  return undefined
}
