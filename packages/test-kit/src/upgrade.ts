import WebSocket from 'ws'

/**
 * The status a WebSocket upgrade to `url` got: 101 when it opened (the socket is closed at once), else the HTTP
 * status of the refusal. Rejects with the connection error when nothing listens (ECONNREFUSED).
 */
export function upgradeStatus(url: string, origin?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, origin === undefined ? {} : { origin })
    ws.once('open', () => {
      ws.terminate()
      resolve(101)
    })
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate()
      resolve(res.statusCode ?? 0)
    })
    ws.once('error', reject)
  })
}
