import { runGateway } from '@mesa/gateway'
import { attachChat, CHAT_CHANNEL_RULES } from './chat.mjs'
import { createPageHandler } from './static.mjs'

/**
 * The chat on `@mesa/gateway` (what `pnpm start` runs): the gateway as `mesa-gateway` runs it, configured by
 * `MESA_*` variables, with the chat page served at `/` and the chat attached to its Mesa server. Rooms are
 * channels, so with `MESA_REDIS_URL` gateways of one namespace share them through the gateway's own adapter:
 * publications, history, presence and acknowledged sends all live there.
 */
await runGateway((config, logger) => {
  const log = (level, msg, fields) => logger[level](fields ?? {}, msg)
  return {
    // The rooms' rule comes with the chat; rules the operator set for other channels stay.
    channels: { ...config.channels, rules: { ...config.channels.rules, ...CHAT_CHANNEL_RULES } },
    handleRequest: createPageHandler({ mesaPath: config.path, log }),
    setup: (mesa) => attachChat(mesa, { log }),
  }
})
