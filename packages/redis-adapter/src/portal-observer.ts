import type { PortalHandler } from '@mesa/core/server'
import type { RedisClient, RedisConnections } from './connection.js'
import { adapterError } from './errors.js'
import { delay, parseEvent, type RawEntry, type ReadReply } from './portal-scripts.js'

/** Entries one XREAD returns at most. */
const READ_COUNT = 100

/**
 * A `reportAllEvents` portal: reads the event stream with its own cursor (XREAD), from the events pushed
 * after it started, and hands each to its handler without waiting or retrying (best effort).
 */
export class PortalObserver {
  private readonly reader: RedisClient
  private readonly loop: Promise<void>
  private closed = false
  private failing = false

  private constructor(
    private readonly connections: RedisConnections,
    private readonly key: string,
    private cursor: string,
    private readonly handler: PortalHandler,
    private readonly blockMs: number,
    private readonly onError: (error: Error) => void,
  ) {
    this.reader = connections.duplicate('blocking')
    this.reader.on('error', () => {})
    this.loop = this.readLoop()
  }

  static async start(
    connections: RedisConnections,
    key: string,
    handler: PortalHandler,
    blockMs: number,
    onError: (error: Error) => void,
  ): Promise<PortalObserver> {
    let cursor: string
    try {
      const last = (await connections.call((client) => client.xrevrange(key, '+', '-', 'COUNT', 1))) as RawEntry[]
      cursor = last[0]?.[0] ?? '0-0'
    } catch (error) {
      throw adapterError('Redis portal queue: cannot start reading events', error)
    }
    return new PortalObserver(connections, key, cursor, handler, blockMs, onError)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    // While Redis is down, ioredis keeps the blocking read queued and disconnect() never rejects it, so the loop
    // would never return; a reader that is up rejects its read at once and the loop ends.
    const readStuck = this.reader.status !== 'ready'
    this.connections.release(this.reader)
    if (!readStuck) await this.loop
  }

  private async readLoop(): Promise<void> {
    while (!this.closed) {
      let reply: ReadReply
      try {
        reply = (await this.reader.xread(
          'COUNT',
          READ_COUNT,
          'BLOCK',
          this.blockMs,
          'STREAMS',
          this.key,
          this.cursor,
        )) as ReadReply
        this.failing = false
      } catch (error) {
        if (this.closed) return
        if (!this.failing) {
          this.failing = true
          this.onError(adapterError('Redis portal queue: observer read failed', error))
        }
        await delay(1000)
        continue
      }
      for (const [, entries] of reply ?? []) {
        for (const [id, fields] of entries) {
          this.cursor = id
          const event = parseEvent(fields)
          if (event) this.deliver(event)
        }
      }
    }
  }

  private deliver(event: Parameters<PortalHandler>[0]): void {
    // Observers are best effort: a failing handler is the portal's to report, not a reason to stop reading.
    const run = async () => this.handler(event)
    run().catch(() => {})
  }
}
