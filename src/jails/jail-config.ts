import type { NamedSpec } from '../config/tags.js';
import type { Scope } from '../bans/scope.js';
import type { BanTimeIncrementConfig } from './ban-time-increment.js';

/**
 * One jail of jail.conf, validated (src/config/jail-reader.ts reads it).
 * Times are in seconds, as fail2ban writes them.
 */
export interface JailConfig {
  name: string;
  enabled: boolean;
  /** The filter.d name with its parameters; undefined for a jail fed only by `sources = bans`. */
  filter?: NamedSpec;
  maxRetry: number;
  findTime: number;
  /** Negative: for ever. */
  banTime: number;
  increment: BanTimeIncrementConfig;
  /** Addresses, CIDRs (IPv4 and IPv6) and host names, as written. */
  ignoreIp: string[];
  /** Never ban this host's own addresses. */
  ignoreSelf: boolean;
  /** A command run with <ip> before a ban; exit status 0 means "ignore this address". */
  ignoreCommand?: string;
  banAction: string;
  /** `action =`, split: action.d names with their parameters (tags like <known/chain> left in place). */
  actions: NamedSpec[];
  /** Which servers receive the bans. */
  scope: Scope;
  /**
   * Which inputs feed the jail: listener kinds or names, `journal`, or
   * `bans` (the ban decisions of the other jails, for a recidive jail).
   * Empty: every log source.
   */
  sources: string[];
  /** Count and ban IPv6 addresses per network of this prefix length (128: per address). */
  ipv6Prefix: number;
  /** Matched lines kept with a ban. */
  maxMatches: number;
  /** Every option of the jail's section, interpolated, for action tags such as <port>. */
  options: Record<string, string>;
}

/** The source name of the feed of ban decisions (`sources = bans`, recidive). */
export const BANS_SOURCE = 'bans';

export { formatScope, parseScope } from '../bans/scope.js';
