import Mesa, { Message } from '@mesa/server'

let anonymous = 0

/**
 * A Mesa server that sends every message back to the socket it came from (same type, data and `sync`
 * option), for checking that a client connects, authenticates, answers heartbeats and reconnects.
 * Authentication accepts anything: `{ id }` becomes the user id when it is a non-empty string, otherwise the
 * socket gets `anonymous-<n>`; the user object is the authentication data (without `shouldSync`) and that id.
 *
 * @param {{ port?: number, server?: import('node:http').Server, path?: string, heartbeatInterval?: number }} [options]
 *   port: default 4001 (0 picks a free one) unless `server` is given; heartbeatInterval: default 10000 ms.
 */
export async function startEchoServer({ port = 4001, server, path, heartbeatInterval = 10_000 } = {}) {
  const mesa = new Mesa({
    ...(server ? { server } : { port }),
    ...(path ? { path } : {}),
    heartbeat: { enabled: true, interval: heartbeatInterval },
    reconnect: { enabled: true, interval: 1000 },
  })
  mesa.on('connection', (client) => {
    client.authenticate((data, done) => {
      // `shouldSync` is the protocol's, not the application's: it is not echoed in the user object.
      const { shouldSync: _, ...fields } = data ?? {}
      const id = typeof fields.id === 'string' && fields.id.length > 0 ? fields.id : `anonymous-${++anonymous}`
      done(null, { id, user: { ...fields, id } })
    })
    client.on('message', (message) => {
      client.send(new Message(0, message.data, message.type, { sync: message.options.sync }))
    })
  })
  await mesa.listening()
  return mesa
}
