import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { assertBuilt, LOCAL_REDIS_URL, LocalNamespaces, REPO_ROOT } from '@mesa/test-kit'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const packages = `${REPO_ROOT}packages/`
const namespaces = new LocalNamespaces('test')

afterEach(() => namespaces.deleteKeys())

/**
 * A server, a portal and a dispatcher on Redis in a child process with `DEBUG` set as a user would, one
 * client sending a message; resolves with what `debug` wrote to stderr.
 */
async function runWithDebug(debug: string): Promise<string> {
  const namespace = namespaces.next()
  const script = `
    import { Mesa, Message } from '${packages}server/dist/index.js'
    import { RedisAdapter } from '${packages}redis-adapter/dist/index.js'
    import { Portal } from '${packages}portal/dist/index.js'
    import { Dispatcher } from '${packages}dispatcher/dist/index.js'
    import WebSocket from '${packages}server/node_modules/ws/wrapper.mjs'
    const namespace = ${JSON.stringify(namespace)}
    const adapter = new RedisAdapter('${LOCAL_REDIS_URL}', { namespace })
    const mesa = new Mesa({ port: 0, host: '127.0.0.1', adapter, portal: { enabled: true } })
    await mesa.listening()
    let handled
    const done = new Promise((resolve) => (handled = resolve))
    const portal = new Portal('${LOCAL_REDIS_URL}', { namespace, id: 'portal-1', handler: (event) => {
      if (event.kind === 'message') handled()
    } })
    await portal.whenReady()
    const ws = new WebSocket('ws://127.0.0.1:' + mesa.port)
    await new Promise((resolve) => ws.once('message', resolve))
    ws.send(JSON.stringify({ op: 0, d: {}, t: 'PING' }))
    await done
    const dispatcher = new Dispatcher(adapter)
    const received = new Promise((resolve) => ws.once('message', resolve))
    await dispatcher.dispatch(new Message(0, {}, 'PONG'))
    await received
    ws.terminate()
    await dispatcher.close()
    await portal.close()
    await mesa.close()
    await adapter.close()`
  const { stderr } = await run(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, DEBUG: debug, DEBUG_COLORS: '0' },
    timeout: 20_000,
  })
  return stderr
}

describe('debug namespaces through DEBUG', () => {
  beforeAll(() => assertBuilt(['server', 'redis-adapter', 'portal', 'dispatcher']))

  it('DEBUG=mesa:* shows the server, Redis, portal and dispatcher namespaces', async () => {
    const stderr = await runWithDebug('mesa:*')
    for (const line of [
      /mesa:server server-\S+ listening on port \d+/,
      /mesa:server \S+ connected \(protocol 1, 127\.0\.0\.1\)/,
      /mesa:server:messages \S+ sent PING/,
      /mesa:redis adapter \S+ in namespace test-\S+ \(standalone\)/,
      /mesa:redis:replication subscribe 1 channels in 1 commands/,
      /mesa:redis:portal portal portal-1 consuming/,
      /mesa:portal portal-1 consuming/,
      /mesa:portal portal-1: message of \S+ from server-\S+/,
      /mesa:dispatcher dispatcher-\S+: PONG to everyone/,
      /mesa:redis:replication a dispatch envelope from dispatcher-\S+/,
      /mesa:server:messages dispatch envelope from dispatcher-\S+/,
      /mesa:server server-\S+ closed/,
    ]) {
      expect(stderr).toMatch(line)
    }
  })

  it('shows only the namespaces enabled, and nothing without DEBUG', async () => {
    const some = await runWithDebug('mesa:dispatcher,mesa:portal')
    expect(some).toMatch(/mesa:dispatcher /)
    expect(some).toMatch(/mesa:portal /)
    expect(some).not.toMatch(/mesa:(server|redis)/)
    expect(await runWithDebug('')).toBe('')
  })
})
