import { Mesa } from '@mesa/server'
import { RawClient, Scope, waitFor } from '@mesa/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { Sampler } from '../src/admin/sampler.js'

describe('admin page sampler', () => {
  const scope = new Scope()
  afterEach(() => scope.cleanup())

  it('gives the same rate for the same traffic whatever the timer’s lateness: counts per elapsed whole interval', async () => {
    const mesa = new Mesa({ port: 0, host: '127.0.0.1' })
    scope.defer(() => mesa.close())
    await mesa.listening()
    const client = scope.add(await RawClient.connect(`ws://127.0.0.1:${mesa.port}`), (c) => c.terminate())
    let time = 1_000_000
    const sampler = new Sampler(mesa, () => {}, () => time)
    const burst = async (total: number) => {
      for (let i = 0; i < 30; i++) client.dispatch('PING', { i })
      await waitFor('the server to count them', () => mesa.stats.messagesIn === total)
    }

    sampler.sample()
    await burst(30)
    // The timer fired 20 ms late: the burst still counts over one second.
    time += 1020
    sampler.sample()
    await burst(60)
    // The event loop was blocked: three intervals passed.
    time += 2990
    sampler.sample()
    expect(sampler.history().map((sample) => sample.messagesIn)).toEqual([0, 30, 10])
  })
})
