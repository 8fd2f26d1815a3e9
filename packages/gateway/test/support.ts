import { type Client as ClientType, Client, type Message } from '@mesa/client-node'
import { type LogLine, type Scope, waitFor } from '@mesa/test-kit'
import { type JWTPayload, SignJWT } from 'jose'
import { type Gateway, type GatewayLogger, type GatewayOptions, startGateway } from '../src/index.js'

export const API_KEY = 'test-api-key-0123456789'
export const JWT_SECRET = 'a-test-secret-of-more-than-thirty-two-bytes'

/** A logger keeping what the gateway logs, for assertions. */
export function capturingLogger(): GatewayLogger & { lines: LogLine[] } {
  const lines: LogLine[] = []
  const at = (level: string) => (fields: object, msg?: string) => {
    lines.push({ level, msg: msg ?? '', ...fields })
  }
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

/** A gateway in this process, on a free port of 127.0.0.1, closed with the scope. */
export async function gatewayInProcess(
  scope: Scope,
  options: GatewayOptions = {},
): Promise<{ gateway: Gateway; logs: LogLine[]; ws: string }> {
  const logger = capturingLogger()
  const gateway = await startGateway({ port: 0, host: '127.0.0.1', logger, ...options })
  scope.defer(() => gateway.close())
  return { gateway, logs: logger.lines, ws: `ws://127.0.0.1:${gateway.port}${gateway.config.path}` }
}

/** An HS256 token for `sub`, valid for `expiresIn` (jose's notation, e.g. '1h', or a past time as a number). */
export function hs256Token(sub: string | undefined, claims: JWTPayload = {}, expiresIn: string | number = '1h'): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(expiresIn)
  if (sub !== undefined) jwt.setSubject(sub)
  return jwt.sign(new TextEncoder().encode(JWT_SECRET))
}

/** POSTs `body` as JSON to `/api/<name>`; the answer's status and parsed body. */
export async function callApi(
  url: string,
  name: string,
  body: unknown,
  key: string | null = API_KEY,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${url}/api/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key === null ? {} : { authorization: `Bearer ${key}` }) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers }
}

export interface RecordingClient {
  client: ClientType
  messages: Message[]
  closes: number[]
}

/** A client-node client recording what it gets; disconnected with the scope. */
export function recordingClient(scope: Scope, url: string, options: ConstructorParameters<typeof Client>[1] = {}): RecordingClient {
  const client = new Client(url, options)
  scope.defer(() => client.disconnect())
  const recorded: RecordingClient = { client, messages: [], closes: [] }
  client.on('message', (message) => recorded.messages.push(message))
  client.on('disconnected', (code) => recorded.closes.push(code))
  client.on('error', () => {})
  return recorded
}

/** Waits until `client` got a message of `type`; returns its data. */
export async function received(client: RecordingClient, type: string, timeoutMs = 10_000): Promise<unknown> {
  const message = await waitFor(`a ${type} message`, () => client.messages.find((m) => m.type === type), timeoutMs)
  return message.data
}
