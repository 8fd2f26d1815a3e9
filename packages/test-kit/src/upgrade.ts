import type { IncomingMessage } from 'node:http'
import WebSocket from 'ws'
import { withTimeout } from './wait.js'

/** How a server answered a WebSocket upgrade: an HTTP refusal (status and body), or 101 and the hello it sent. */
export type UpgradeAnswer = { status: number; body: string } | { status: 101; hello: string }

/**
 * Tries a WebSocket upgrade of `url` with these request headers (`Origin`, credentials): a refusal's body is
 * read; an accepted socket is closed again once the server's first frame (a Mesa server's hello) arrived.
 * Rejects with the connection error when nothing listens (ECONNREFUSED), and after `timeoutMs`.
 */
export function upgrade(url: string, headers: Record<string, string> = {}, timeoutMs = 5000): Promise<UpgradeAnswer> {
  const ws = new WebSocket(url, { headers })
  const answer = new Promise<UpgradeAnswer>((resolve, reject) => {
    ws.on('error', reject)
    ws.once('unexpected-response', (_request, response: IncomingMessage) => {
      let body = ''
      response.on('data', (chunk: Buffer) => {
        body += chunk.toString()
      })
      response.on('end', () => resolve({ status: response.statusCode!, body }))
      response.on('error', () => resolve({ status: response.statusCode!, body }))
    })
    ws.once('message', (data) => {
      resolve({ status: 101, hello: String(data) })
      ws.terminate()
    })
  })
  return withTimeout(`the upgrade of ${url}`, answer, timeoutMs)
}
