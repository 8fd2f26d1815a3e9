import { LOG_LEVELS } from './config.mjs'

/**
 * Structured logs: one JSON object per line (`time`, `level`, `msg`, then the fields), so log collectors
 * can index them without parsing prose.
 *
 * @param {{ level?: string, write?: (line: string) => void, base?: object }} [options]
 *   level: lowest level written (default 'info'); write: default stdout; base: fields on every line.
 */
export function createLogger({ level = 'info', write = (line) => process.stdout.write(line), base = {} } = {}) {
  const threshold = LOG_LEVELS.indexOf(level)
  const log = (lvl, msg, fields) => {
    if (LOG_LEVELS.indexOf(lvl) < threshold) return
    let line
    try {
      line = JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...base, ...fields })
    } catch {
      // A field that cannot be serialized (a cycle, a BigInt) must not cost the log line.
      line = JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...base, unserializableFields: true })
    }
    write(`${line}\n`)
  }
  return {
    log,
    debug: (msg, fields) => log('debug', msg, fields),
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
  }
}
