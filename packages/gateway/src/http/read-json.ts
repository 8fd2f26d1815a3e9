import type { IncomingMessage } from 'node:http'
import { HttpError } from './respond.js'

/**
 * Reads a request's JSON body, at most `limit` bytes: a bigger `content-length` is refused before anything is
 * read, and a body that grows past the bound while streaming stops being buffered at once.
 */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/json') {
    throw new HttpError(415, 'unsupported-media-type', 'send the body as JSON, with Content-Type: application/json')
  }
  const tooLarge = () => new HttpError(413, 'payload-too-large', `the body is larger than ${limit} bytes`, { connection: 'close' })
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) throw tooLarge()
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength
    if (size > limit) throw tooLarge()
    chunks.push(chunk)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new HttpError(400, 'invalid-json', 'the body is not valid JSON')
  }
}
