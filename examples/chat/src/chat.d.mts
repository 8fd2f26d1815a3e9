import type { ChannelRule, Mesa } from '@mesa/server'

/** The channel rules the chat needs: rooms (`room:<name>`) keep history and announce joins and leaves. */
export declare const CHAT_CHANNEL_RULES: Record<string, ChannelRule>

/** The chat's server side on `mesa` (see `chat.mjs`). */
export declare function attachChat(
  mesa: Mesa,
  options?: { historySize?: number; log?: (level: string, msg: string, fields?: object) => void },
): void
