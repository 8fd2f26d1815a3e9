import { Redis } from 'ioredis'

/** Runs `command` on a short-lived connection to 127.0.0.1:`port`; null when the port does not answer. */
export async function ask(port: number, command: string, ...args: (string | number)[]): Promise<unknown> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    await client.connect()
    return await client.call(command, ...args)
  } catch {
    return null
  } finally {
    client.disconnect()
  }
}
