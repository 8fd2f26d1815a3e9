import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { channelStream } from '@mesa/core/server'
import { publications, RawClient, Scope, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { API_KEY, gatewayInProcess, hs256Token, JWT_SECRET, received, recordingClient } from './support.js'

const run = promisify(execFile)
const README = new URL('../README.md', import.meta.url)
const DOCUMENTED_ORIGIN = 'http://localhost:4000'

/** The README's curl commands, each with the answer documented right after it. */
function examples(): { command: string; answer: string }[] {
  const readme = readFileSync(README, 'utf8')
  const section = /<!-- curl-examples:start -->([\s\S]*?)<!-- curl-examples:end -->/.exec(readme)?.[1]
  expect(section, 'README.md has marked curl examples').toBeDefined()
  const pairs = [...section!.matchAll(/```sh\n([\s\S]*?)```\s*```json\n([\s\S]*?)```/g)]
  return pairs.map(([, command, answer]) => ({ command: command!.trim(), answer: answer!.trim() }))
}

/** Whether `actual` is what the README shows; "…" there stands for any value. */
function matches(actual: unknown, documented: unknown): boolean {
  if (documented === '…') return actual !== undefined
  if (Array.isArray(documented)) {
    return Array.isArray(actual) && actual.length === documented.length && documented.every((item, i) => matches(actual[i], item))
  }
  if (typeof documented === 'object' && documented !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return false
    const keys = Object.keys(documented)
    return keys.length === Object.keys(actual).length && keys.every((key) => matches((actual as Record<string, unknown>)[key], (documented as Record<string, unknown>)[key]))
  }
  return actual === documented
}

describe('the README curl examples', () => {
  const scope = new Scope()
  afterEach(() => scope.cleanup())

  it('run with curl against a gateway and answer as documented', async () => {
    // The README says presence is kept for channels whose rule asks for it: `news` here.
    const { gateway, ws } = await gatewayInProcess(scope, {
      jwt: { secret: JWT_SECRET },
      apiKey: API_KEY,
      channels: { rules: { news: { presence: true } } },
    })
    const user = async (id: string) => {
      const client = recordingClient(scope, ws)
      await client.client.authenticate({ token: await hs256Token(id) })
      return client
    }
    const [u42, u7] = [await user('42'), await user('7')]
    const tab42 = scope.add(await RawClient.connect(ws, { v2: true }), (client) => client.terminate())
    await tab42.authenticate({ token: await hs256Token('42') })
    const subscribedTo = (channel: string) =>
      gateway.mesa.clients.filter((client) => client.channels.includes(channel)).map((client) => client.userId)

    const documented = examples()
    expect(documented.length).toBeGreaterThanOrEqual(12)
    for (const { command, answer } of documented) {
      expect(command.startsWith('curl ')).toBe(true)
      const { stdout } = await run('bash', ['-c', command.replaceAll(DOCUMENTED_ORIGIN, gateway.url)], {
        env: { PATH: process.env.PATH ?? '', MESA_API_KEY: API_KEY },
      })
      const actual: unknown = JSON.parse(stdout)
      expect(matches(actual, JSON.parse(answer)), `${command}\n  answered ${stdout}  documented ${answer}`).toBe(true)
      // A subscription reaches the user's socket through the adapter: the next example waits for it.
      if (command.includes('/api/subscribe')) await waitFor('user 42 subscribed', () => subscribedTo('news').length === 2)
    }

    // What the examples did reached the users.
    expect(await received(u42, 'NEW_MESSAGE')).toEqual({ text: 'Hello' })
    expect(await received(u42, 'ANNOUNCEMENT')).toEqual({ text: 'Maintenance at 22:00' })
    // The publication reached the subscribed user's socket (a raw protocol 2 one: the channel's op 0 carries x.ch).
    await tab42.waitFor('the publication', () => publications(tab42, 'news').length === 1)
    expect(publications(tab42, 'news')[0]).toMatchObject({ op: 0, t: 'HEADLINE', d: { title: 'Mesa 2 is out' }, s: 1 })
    expect(await received(u7, 'ANNOUNCEMENT')).toEqual({ text: 'Maintenance at 22:00' })
    expect(u7.messages.map((message) => message.type)).toEqual(['ANNOUNCEMENT'])
    // The subscription was kept for user 42 until the example unsubscribed them; the publication was stored once.
    expect(await gateway.adapter.userChannels.channelsOf('42')).toEqual([])
    expect((await gateway.adapter.store.head(channelStream('news'))).seq).toBe(1)
    await waitFor('user 7 to be disconnected', () => u7.closes.length > 0)
    expect(u7.closes).toEqual([4004])
    expect(u42.closes).toEqual([])
  })
})
