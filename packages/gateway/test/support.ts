import { type ChildProcess, spawn } from 'node:child_process'
import { type Client as ClientType, Client, type Message } from '@mesa/client-node'
import { type JWTPayload, SignJWT } from 'jose'
import { expect } from 'vitest'
import type { Scope } from '../../../test/integration/harness/scope.js'
import { waitFor, withTimeout } from '../../../test/integration/harness/wait.js'
import { type Gateway, type GatewayLogger, type GatewayOptions, startGateway } from '../src/index.js'

export { Scope } from '../../../test/integration/harness/scope.js'
export { waitFor, withTimeout }

export const API_KEY = 'test-api-key-0123456789'
export const JWT_SECRET = 'a-test-secret-of-more-than-thirty-two-bytes'

export interface LogLine {
  level: string | number
  msg: string
  [field: string]: unknown
}

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
  await waitFor(`a ${type} message`, () => client.messages.some((message) => message.type === type), timeoutMs)
  return client.messages.find((message) => message.type === type)!.data
}

/** Log lines of a child process's stdout, each parsed as JSON (a line that is not JSON fails the test). */
export function jsonLines(child: ChildProcess): LogLine[] {
  const lines: LogLine[] = []
  let pending = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk
    const complete = pending.split('\n')
    pending = complete.pop()!
    for (const line of complete) {
      let parsed: unknown
      try {
        parsed = JSON.parse(line)
      } catch {
        expect.fail(`a log line that is not JSON: ${line}`)
      }
      lines.push(parsed as LogLine)
    }
  })
  return lines
}

/** A process and what it printed, killed with the scope if still running. */
export interface Process {
  child: ChildProcess
  logs: LogLine[]
  stderr: () => string
  exit: Promise<number | null>
}

/**
 * Runs `command` in a process group of its own: `npx` runs the gateway under `sh`, and a cleanup that killed `npx`
 * alone would leave the gateway running. The group is killed with the scope if anything of it still runs.
 */
export function runProcess(scope: Scope, command: string, args: string[], options: { cwd?: string; env: Record<string, string> }): Process {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const logs = jsonLines(child)
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  // 'close', not 'exit': stdout is drained by then (every process of the group closed it), so every line was read.
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  let closed = false
  void exit.then(() => {
    closed = true
  })
  scope.defer(async () => {
    if (closed) return
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      // The group is gone already.
    }
    await exit
  })
  return { child, logs, stderr: () => stderr, exit }
}

/** The pid of the gateway itself (its log lines carry it), to signal it as an orchestrator would. */
export function gatewayPid(gateway: Process): number {
  const line = gateway.logs.find((entry) => entry.msg === 'gateway listening')
  if (line === undefined) throw new Error('the gateway is not listening yet')
  return line.pid as number
}

/** Waits for the `gateway listening` line; its port. */
export async function listeningPort(gateway: Process, timeoutMs = 20_000): Promise<number> {
  await waitFor('the gateway to listen', () => gateway.logs.some((line) => line.msg === 'gateway listening') || gateway.child.exitCode !== null, timeoutMs)
  const line = gateway.logs.find((entry) => entry.msg === 'gateway listening')
  if (line === undefined) throw new Error(`the gateway exited (${gateway.child.exitCode}): ${gateway.stderr()}`)
  return line.port as number
}
