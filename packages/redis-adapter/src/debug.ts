import createDebug from 'debug'

/**
 * `debug` namespaces (`DEBUG=mesa:redis*`): connections and outages; replication (a line per envelope, checked
 * with `enabled` first so a disabled namespace costs nothing per message); the portal queue.
 */
export const debugRedis = createDebug('mesa:redis')
export const debugReplication = createDebug('mesa:redis:replication')
export const debugPortalQueue = createDebug('mesa:redis:portal')
