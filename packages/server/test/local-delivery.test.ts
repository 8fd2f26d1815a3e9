import type { DispatchEnvelope } from '@mesa/core/server'
import { describe, expect, it } from 'vitest'
import type { Connection } from '../src/connection.js'
import { deliverLocally } from '../src/local-delivery.js'
import { RecipientIndex } from '../src/recipient-index.js'

interface FakeConnection {
  userId: string
  authenticated: boolean
  protocol: 1 | 2
  written: string[]
  delivery: { write(frame: string): void; writeSequenced(kind: string, seq: number, frame: string | null): void }
}

function fake(userId: string, protocol: 1 | 2): FakeConnection {
  const written: string[] = []
  return {
    userId,
    authenticated: true,
    protocol,
    written,
    delivery: {
      write: (frame) => void written.push(frame),
      writeSequenced: (_kind, _seq, frame) => void (frame === null ? undefined : written.push(frame)),
    },
  }
}

/** A set of every socket that fails the test when a targeted send walks it. */
class UntouchableSet<T> extends Set<T> {
  override [Symbol.iterator](): SetIterator<T> {
    throw new Error('a targeted send must not visit every socket')
  }
  override values(): SetIterator<T> {
    throw new Error('a targeted send must not visit every socket')
  }
}

describe('deliverLocally', () => {
  it('a targeted send touches only the recipients, and each socket gets the variant of its protocol', () => {
    const index = new RecipientIndex<Connection>()
    const a1 = fake('a', 2)
    const a2 = fake('a', 2)
    const a3 = fake('a', 1)
    const b = fake('b', 2)
    for (const connection of [a1, a2, a3, b]) index.add(connection.userId, connection as unknown as Connection)
    const envelope: DispatchEnvelope = {
      kind: 'dispatch',
      origin: 'o',
      frame: '{"op":0,"d":{},"t":"T"}',
      recipients: ['a', 'b', 'missing'],
      sequences: { users: [7, 3, 1] },
    }
    deliverLocally({ all: new UntouchableSet<Connection>(), index, authenticatedOnly: false }, envelope, false)
    expect(a1.written).toEqual(['{"op":0,"d":{},"t":"T","s":7}'])
    expect(a2.written[0]).toBe(a1.written[0])
    expect(a3.written).toEqual(['{"op":0,"d":{},"t":"T"}'])
    expect(b.written).toEqual(['{"op":0,"d":{},"t":"T","s":3}'])
  })

  it('a broadcast gives protocol 2 sockets the global-stream frame and 1.x sockets the plain one', () => {
    const connections = [fake('a', 2), fake('b', 2), fake('c', 1)]
    const envelope: DispatchEnvelope = {
      kind: 'dispatch',
      origin: 'o',
      frame: '{"op":0,"d":{}}',
      sequences: { global: { epoch: 'e', seq: 4 } },
    }
    const sent = deliverLocally(
      { all: new Set(connections as unknown as Connection[]), index: new RecipientIndex<Connection>(), authenticatedOnly: false },
      envelope,
      true,
    )
    expect(sent).toHaveLength(3)
    expect(connections[0]!.written).toEqual(['{"op":0,"d":{},"s":4,"x":{"st":"g"}}'])
    expect(connections[1]!.written[0]).toBe(connections[0]!.written[0])
    expect(connections[2]!.written).toEqual(['{"op":0,"d":{}}'])
  })
})
