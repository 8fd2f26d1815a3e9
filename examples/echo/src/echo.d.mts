import type { Server } from 'node:http'
import type Mesa from '@mesa/server'

export declare function startEchoServer(options?: {
  port?: number
  server?: Server
  path?: string
  heartbeatInterval?: number
}): Promise<Mesa>
