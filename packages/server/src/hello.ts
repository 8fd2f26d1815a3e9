import { HelloRule, Opcode, PROTOCOL_VERSION } from '@mesa/core'
import { encodeFrame } from '@mesa/core/server'
import type { ResolvedConfig } from './options.js'

/** The hello (op 10) for 1.x sockets and for `mesa.v2` sockets, encoded once per server. */
export interface HelloFrames {
  v1: string
  v2: string
}

export function helloFrames(config: ResolvedConfig): HelloFrames {
  const d: Record<string, unknown> = {}
  if (config.heartbeat.enabled) d.c_heartbeat_interval = config.heartbeat.interval
  if (config.reconnect.enabled) d.c_reconnect_interval = config.reconnect.interval
  if (config.authentication.timeout > 0) d.c_authentication_timeout = config.authentication.timeout
  const rules: string[] = []
  if (config.client.enforceEqualVersions) rules.push(HelloRule.EnforceEqualVersions)
  if (config.options.storeMessages) rules.push(HelloRule.StoreMessages)
  if (config.authentication.sendUserObject) rules.push(HelloRule.SendsUserObject)
  // 1.x clients read `rules` without a null check: it is always an array.
  d.rules = rules
  return {
    v1: encodeFrame({ op: Opcode.Hello, d }),
    v2: encodeFrame({ op: Opcode.Hello, d, x: { protocol: PROTOCOL_VERSION } }),
  }
}
