/**
 * Where a session is:
 *
 * - `connecting`: a socket is opening.
 * - `open`: the socket is open and not authenticated (or not yet re-authenticated after a reconnect).
 * - `authenticating`: credentials are on the wire, the answer is awaited.
 * - `authenticated`: the server accepted the credentials on this socket.
 * - `reconnecting`: the socket closed; a new attempt is scheduled.
 * - `closed`: no socket and none scheduled: before `connect()`, after `disconnect()`, after a close code that
 *   forbids reconnecting, or with `reconnect: false`.
 */
export type SessionState = 'connecting' | 'open' | 'authenticating' | 'authenticated' | 'reconnecting' | 'closed'
