import type Mesa from '@mesa/server'

export interface ChatServer {
  /** `http://host:port/`: the page; the Mesa endpoint is at `/ws`. */
  url: string
  port: number
  mesa: Mesa
  /** Closes Mesa (clients get 1001) and the http server. */
  close(): Promise<void>
}

export declare function startChatServer(options?: {
  port?: number
  host?: string
  heartbeatInterval?: number
  log?: (level: string, msg: string, fields?: object) => void
}): Promise<ChatServer>
