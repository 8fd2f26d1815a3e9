/** What the server announces in its hello (op 10). */
export interface Hello {
  /** ms between the server's heartbeats; absent when the server sends none. */
  heartbeatInterval: number | undefined
  /** Base delay of reconnects, ms. */
  reconnectInterval: number | undefined
  /** ms the server waits for authentication. */
  authenticationTimeout: number | undefined
  /** 1.x rules such as `enforce_equal_versions`. */
  rules: string[]
}

/**
 * Reads a hello leniently: a field of the wrong type counts as absent, because a server announcing an odd
 * interval must not stop the client from working.
 */
export function readHello(d: Record<string, unknown>): Hello {
  return {
    heartbeatInterval: duration(d.c_heartbeat_interval),
    reconnectInterval: duration(d.c_reconnect_interval),
    authenticationTimeout: duration(d.c_authentication_timeout),
    rules: Array.isArray(d.rules) ? d.rules.filter((rule): rule is string => typeof rule === 'string') : [],
  }
}

function duration(value: unknown): number | undefined {
  return typeof value === 'number' && value > 0 && value < 2 ** 31 ? value : undefined
}
