import { type ChildProcess, spawn } from 'node:child_process'
import { expect } from 'vitest'
import type { Scope } from './scope.js'
import { waitFor } from './wait.js'

/** A log line as pino writes it: level, message, and whatever fields came with it. */
export interface LogLine {
  level: string | number
  msg: string
  [field: string]: unknown
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

/** A command's process and what it printed, killed with the scope if still running. */
export interface CommandProcess {
  child: ChildProcess
  logs: LogLine[]
  stderr: () => string
  exit: Promise<number | null>
}

/**
 * Runs `command` (logging JSON lines) in a process group of its own: `npx` runs the gateway under `sh`, and a
 * cleanup that killed `npx` alone would leave the gateway running. The group is killed with the scope if
 * anything of it still runs.
 */
export function runProcess(
  scope: Scope,
  command: string,
  args: string[],
  options: { cwd?: string; env: Record<string, string> },
): CommandProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
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

/** The pid of a `mesa-gateway` process itself (its log lines carry it), to signal it as an orchestrator would. */
export function gatewayPid(gateway: CommandProcess): number {
  const line = gateway.logs.find((entry) => entry.msg === 'gateway listening')
  if (line === undefined) throw new Error('the gateway is not listening yet')
  return line.pid as number
}

/** Waits for a `mesa-gateway` process's `gateway listening` line; its port. */
export async function listeningPort(gateway: CommandProcess, timeoutMs = 20_000): Promise<number> {
  await waitFor(
    'the gateway to listen',
    () => gateway.logs.some((line) => line.msg === 'gateway listening') || gateway.child.exitCode !== null,
    timeoutMs,
  )
  const line = gateway.logs.find((entry) => entry.msg === 'gateway listening')
  if (line === undefined) throw new Error(`the gateway exited (${gateway.child.exitCode}): ${gateway.stderr()}`)
  return line.port as number
}
