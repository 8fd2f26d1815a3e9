import { userStream } from '@mesa/core/server'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort, RedisServer, Scope, waitFor } from '@mesa/test-kit'
import { RedisAdapter } from '../src/index.js'
import { createKeys } from '../src/keys.js'

const scope = new Scope()
afterEach(() => scope.cleanup())

const NAMESPACE = 'master-change'
const STREAM = userStream('u')

function adapterOn(redis: RedisServer): RedisAdapter {
  return scope.add(new RedisAdapter(redis.url, { namespace: NAMESPACE }), (adapter) => adapter.close())
}

function clientOf(redis: RedisServer): Redis {
  return scope.add(new Redis(redis.url), (client) => void client.disconnect())
}

/** Three entries and the `legacy` cursor at 2, written on `adapter`'s master. */
async function history(adapter: RedisAdapter): Promise<string> {
  const positions = await Promise.all([1, 2, 3].map((n) => adapter.store.append(STREAM, { frame: `m${n}` })))
  expect(positions.map((p) => p.seq)).toEqual([1, 2, 3])
  await adapter.store.setCursor(STREAM, 'legacy', 2)
  return positions[0]!.epoch
}

describe('RedisStreamStore across a change of master', () => {
  it('starts a new epoch, with its cursors back at 0, on a replica promoted to master', async () => {
    // No 5 s wait before the replica's first sync (Redis's diskless sync delay).
    const master = scope.add(new RedisServer(await freePort(), { args: ['--repl-diskless-sync-delay', '0'] }), (r) =>
      r.destroy(),
    )
    await master.start()
    const replica = scope.add(await RedisServer.start(), (r) => r.destroy())
    const onReplica = clientOf(replica)
    await onReplica.call('REPLICAOF', '127.0.0.1', String(master.port))
    const epoch = await history(adapterOn(master))
    const head = createKeys(NAMESPACE).streamHead(STREAM)
    await waitFor('the replica to have the head', async () => (await onReplica.hget(head, 'seq')) === '3')
    // What the master acknowledged last may never have reached the replica: sequence numbers continued here
    // could name other messages than the ones clients were given.
    await onReplica.call('REPLICAOF', 'NO', 'ONE')
    const { store } = adapterOn(replica)
    const renewed = await store.head(STREAM)
    expect(renewed.epoch).not.toBe(epoch)
    expect(renewed.seq).toBe(0)
    expect(await store.readAfter(STREAM, { epoch, seq: 3 })).toEqual({ status: 'epoch-changed', head: renewed })
    expect(await store.getCursor(STREAM, 'legacy')).toBe(0)
    expect(await store.append(STREAM, { frame: 'after' })).toEqual({ epoch: renewed.epoch, seq: 1 })
    // The new epoch belongs to this master from now on.
    expect(await store.head(STREAM)).toEqual({ epoch: renewed.epoch, seq: 1 })
    await store.setCursor(STREAM, 'legacy', 1)
    expect(await store.getCursor(STREAM, 'legacy')).toBe(1)
  })

  it('keeps epoch, entries and cursors when the master restarts from its own persistence', async () => {
    const master = scope.add(await RedisServer.start(), (r) => r.destroy())
    const before = adapterOn(master)
    const epoch = await history(before)
    await before.close()
    await master.stop()
    await master.start()
    const { store } = adapterOn(master)
    expect(await store.head(STREAM)).toEqual({ epoch, seq: 3 })
    expect(await store.getCursor(STREAM, 'legacy')).toBe(2)
    const read = await store.readAfter(STREAM, { epoch, seq: 1 })
    expect(read.status === 'ok' && read.entries.map((e) => e.frame)).toEqual(['m2', 'm3'])
    expect(await store.append(STREAM, { frame: 'm4' })).toEqual({ epoch, seq: 4 })
  })

  it('works for a user whose ACL denies INFO, without telling a promoted master apart', async () => {
    const master = scope.add(await RedisServer.start(), (r) => r.destroy())
    await clientOf(master).call('ACL', 'SETUSER', 'mesa', 'on', '>secret', '~*', '&*', '+@all', '-info')
    const adapter = scope.add(
      new RedisAdapter(`redis://mesa:secret@127.0.0.1:${master.port}`, { namespace: NAMESPACE }),
      (a) => a.close(),
    )
    await expect(adapter.client.call('INFO', 'replication')).rejects.toThrow(/NOPERM/)
    const epoch = await history(adapter)
    expect(await adapter.store.head(STREAM)).toEqual({ epoch, seq: 3 })
    expect(await adapter.store.getCursor(STREAM, 'legacy')).toBe(2)
  })

  it('reads a cursor written before cursors carried their epoch as it is', async () => {
    const master = scope.add(await RedisServer.start(), (r) => r.destroy())
    const adapter = adapterOn(master)
    await history(adapter)
    await clientOf(master).hset(createKeys(NAMESPACE).streamCursors(STREAM), 'legacy', '3')
    expect(await adapter.store.getCursor(STREAM, 'legacy')).toBe(3)
  })
})
