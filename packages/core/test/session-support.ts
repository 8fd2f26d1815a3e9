import { nextEvent, type Scope, ScriptedServer, type ServerSide, serverFrames } from '@mesa/test-kit'
import WebSocket from 'ws'
import { ClientSession, type Frame, type SessionOptions } from '../src/index.js'

/** Opens `ws` sockets: the transport the Node client gives the session. */
export const wsTransport = (url: string, protocols: string[]) => new WebSocket(url, protocols)

/** The frames with opcode `op` the client sent on a connection, in order. */
export const framesOf = (side: ServerSide, op: number): Frame[] => side.frames.filter((frame) => frame.op === op)

/**
 * Scripted servers and sessions for the protocol-level session tests, each cleaned up by `scope`. Sessions
 * reconnect within 20 ms unless told otherwise.
 */
export function sessionHarness(scope: Scope) {
  return {
    async serve(options?: Parameters<typeof ScriptedServer.start>[0]): Promise<ScriptedServer> {
      const server = await ScriptedServer.start(options)
      scope.defer(() => server.close())
      return server
    },

    client(url: string, options?: SessionOptions): ClientSession {
      const session = new ClientSession(url, { backoff: { base: 10, max: 20 }, ...options }, wsTransport)
      scope.defer(() => session.disconnect())
      return session
    },

    /**
     * Authenticates `session` on the `index`-th connection of `server` (`again`: the session authenticates there
     * on its own, after a reconnect); resolves with that connection.
     */
    async signIn(server: ScriptedServer, session: ClientSession, index = 0, again = false): Promise<ServerSide> {
      const side = await server.connection(index)
      const done = again ? nextEvent(session, 'authenticated') : session.authenticate({ token: 't' })
      await side.frame(2)
      side.send(serverFrames.authenticated({ id: 'u' }))
      await done
      return side
    },
  }
}
