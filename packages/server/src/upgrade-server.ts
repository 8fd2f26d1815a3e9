import { createServer, type Server, STATUS_CODES } from 'node:http'

/** Finest interval at which Node checks request timeouts; coarser for long timeouts (one timer per server). */
const MAX_CHECK_INTERVAL = 1000
const MIN_CHECK_INTERVAL = 10

/**
 * The http server Mesa creates when it is given a `port` (not a `server`). It answers anything but an upgrade
 * with 426, as ws's own server does, and gives a client `handshakeTimeout` ms to send its request: Node's defaults
 * (60 s for the headers, 300 s for the request, checked every 30 s) let clients that trickle partial headers
 * (slowloris) hold sockets for minutes. Once a request is upgraded, these timeouts no longer apply to it.
 */
export function createUpgradeServer(handshakeTimeout: number): Server {
  const body = STATUS_CODES[426]!
  return createServer(
    {
      headersTimeout: handshakeTimeout,
      requestTimeout: handshakeTimeout,
      connectionsCheckingInterval: Math.max(MIN_CHECK_INTERVAL, Math.min(MAX_CHECK_INTERVAL, Math.floor(handshakeTimeout / 4))),
    },
    (_request, response) => {
      response.writeHead(426, { 'Content-Length': body.length, 'Content-Type': 'text/plain' })
      response.end(body)
    },
  )
}

/** Stops the server and ends the HTTP connections still in a request (upgraded sockets are closed by then). */
export function closeUpgradeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    // The callback's error says the server was not listening (listen failed): closed either way.
    server.close(() => resolve())
    server.closeAllConnections()
  })
}
