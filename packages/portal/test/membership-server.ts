import { Message } from '@mesa/core'
import type { Adapter } from '@mesa/core/server'
import { Mesa } from '@mesa/server'
import type { Scope } from '@mesa/test-kit'

export interface MembershipServer {
  mesa: Mesa
  /** `join <portal id>` and `leave <portal id>`, in the order the hooks ran. */
  hooks: string[]
  url: string
}

/**
 * A real server on `adapter` with portal events on, whose middleware records the membership hooks and tells
 * every connected socket about them (`PORTAL_JOINED`, `PORTAL_LEFT`), so the hooks' effect travels over the
 * wire. `scope` closes it.
 */
export async function membershipServer(scope: Scope, adapter: Adapter): Promise<MembershipServer> {
  const mesa = new Mesa({ port: 0, host: '127.0.0.1', adapter, portal: { enabled: true } })
  mesa.on('connection', (client) => {
    client.authenticate((data, done) => done(null, { id: String(data.id), user: {} }))
  })
  const hooks: string[] = []
  mesa.use((server) => ({
    onPortalJoin(id) {
      hooks.push(`join ${id}`)
      return server.send(new Message(0, { id }, 'PORTAL_JOINED'))
    },
    onPortalLeave(id) {
      hooks.push(`leave ${id}`)
      return server.send(new Message(0, { id }, 'PORTAL_LEFT'))
    },
  }))
  scope.defer(() => mesa.close())
  await mesa.listening()
  return { mesa, hooks, url: `ws://127.0.0.1:${mesa.port}` }
}
