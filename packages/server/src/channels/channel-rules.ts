import type { ChannelRule } from '../options.js'

export type ResolvedRule = Readonly<Required<ChannelRule>>

/**
 * `channels.rules`: which rule a channel follows, by the longest prefix of its name that has one (`''`, the
 * default rule, matches every name). A lookup tries the prefixes longest first: a handful of rules, no allocation.
 */
export class ChannelRules {
  private readonly byLength: [prefix: string, rule: ResolvedRule][]
  private readonly fallback: ResolvedRule

  /** `rules` as `resolveConfig` gives them: with the default rule under `''`. */
  constructor(rules: Record<string, Required<ChannelRule>> & { '': Required<ChannelRule> }) {
    this.fallback = Object.freeze({ ...rules[''] })
    this.byLength = Object.entries(rules)
      .filter(([prefix]) => prefix !== '')
      .map(([prefix, rule]): [string, ResolvedRule] => [prefix, Object.freeze({ ...rule })])
      .sort(([a], [b]) => b.length - a.length)
  }

  for(channel: string): ResolvedRule {
    for (const [prefix, rule] of this.byLength) if (channel.startsWith(prefix)) return rule
    return this.fallback
  }
}
