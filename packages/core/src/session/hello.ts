/** The fields of the server's hello (op 10) that announce durations in ms. */
export type HelloDuration = 'c_heartbeat_interval' | 'c_reconnect_interval' | 'c_authentication_timeout'

/**
 * Reads the hello leniently, one field when it is needed (a hello object with named fields would cost the
 * browser client bytes): a field of the wrong type counts as absent, because a server announcing an odd
 * interval must not stop the client from working.
 */
export function helloDuration(d: Record<string, unknown>, field: HelloDuration): number | undefined {
  const value = d[field]
  return typeof value === 'number' && value > 0 && value < 2 ** 31 ? value : undefined
}
