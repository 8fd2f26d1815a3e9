import { connect, createServer, type Server, type Socket } from 'node:net'

/** The bytes one connection through a `TcpProxy` carried so far, each way. */
export interface ProxiedConnection {
  /** From the target to the client (what the client read). */
  readonly toClient: number
  /** From the client to the target. */
  readonly toTarget: number
}

/**
 * A TCP proxy on a free port of 127.0.0.1 in front of `127.0.0.1:<targetPort>`, counting the bytes each
 * connection carries: a test points a client at it to see what the client was sent (what a Redis subscriber
 * connection read, for one). `close()` ends every connection.
 */
export class TcpProxy {
  readonly connections: ProxiedConnection[] = []
  private readonly sockets = new Set<Socket>()

  private constructor(private readonly server: Server) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    const server = createServer()
    const proxy = new TcpProxy(server)
    server.on('connection', (client) => proxy.relay(client, targetPort))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', resolve)
    })
    return proxy
  }

  get port(): number {
    const address = this.server.address()
    return typeof address === 'object' && address !== null ? address.port : 0
  }

  /** Bytes sent to clients so far, over every connection. */
  get toClients(): number {
    return this.connections.reduce((sum, connection) => sum + connection.toClient, 0)
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private relay(client: Socket, targetPort: number): void {
    const target = connect(targetPort, '127.0.0.1')
    const counts = { toClient: 0, toTarget: 0 }
    this.connections.push(counts)
    for (const socket of [client, target]) {
      this.sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => {
        this.sockets.delete(socket)
        client.destroy()
        target.destroy()
      })
    }
    target.on('data', (chunk: Buffer) => {
      counts.toClient += chunk.length
    })
    client.on('data', (chunk: Buffer) => {
      counts.toTarget += chunk.length
    })
    target.pipe(client)
    client.pipe(target)
  }
}
