import type { NamedSpec } from './tags.js';

/**
 * One jail of jail.conf, validated: plain data, read by jail-reader.ts; the
 * jails (src/jails/) compile it into their run-time form.
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
  /** `central_action =`, split the same way: actions run once per ban on the central host. */
  centralActions: NamedSpec[];
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
  /**
   * fail2ban's `usedns`: `no` keeps host names out of `<HOST>`; `warn`, `yes`
   * and `raw` let `<HOST>` match them. A name is never resolved here (the
   * attacker controls the DNS of the address it connects from): such a line
   * bans nobody and is counted per jail (FilterLosses.hostName).
   */
  useDns: UseDns;
  /** Matched lines kept with a ban. */
  maxMatches: number;
  /** Every option of the jail's section, interpolated, for action tags such as <port>. */
  options: Record<string, string>;
}

export const USE_DNS = ['yes', 'warn', 'no', 'raw'] as const;
export type UseDns = (typeof USE_DNS)[number];

/** The source name of the feed of ban decisions (`sources = bans`, recidive). */
export const BANS_SOURCE = 'bans';

/**
 * `bantime.*`: fail2ban's `bantime.*` options: an address banned before is banned longer
 * next time. Its semantics carry over:
 * - the first ban lasts `bantime`; a ban of an address banned `n` times
 *   before (within `dbpurgeage`) lasts formula(ban.Time = bantime, ban.Count = n);
 * - with `multipliers`, the n-th entry (the last one once n passes the end)
 *   times `factor` replaces the formula: `1 2 4 8 16 32 64` with a bantime
 *   of 600 s reaches 600 * 64 s, about 10.7 hours;
 * - the formula never gives less than bantime; `maxtime` caps the result and
 *   `rndtime` adds up to that many random seconds, so a botnet cannot time its
 *   return;
 * - `overalljails` counts earlier bans of the address in every jail.
 * A permanent ban (negative bantime) stays permanent.
 */
export interface BanTimeIncrementConfig {
  enabled: boolean;
  factor: number;
  /** Python-like expression, see ban-time-formula.ts. */
  formula: string;
  /** When not empty, used instead of the formula. */
  multipliers: number[];
  /** Seconds; undefined: no cap. */
  maxTime?: number;
  /** Seconds; undefined: no random part. */
  rndTime?: number;
  overallJails: boolean;
}

/**
 * `scope =`: which mail servers receive a jail's bans: every host, only the
 * hosts the failures were seen on, or the hosts of one fleet.conf group.
 * The ban carries its scope (src/bans/); src/fleet/ alone turns it into hosts.
 */
export type Scope = { kind: 'fleet' } | { kind: 'origin' } | { kind: 'group'; group: string };

/** `fleet`, `origin` or `group:NAME`: how jail.conf writes a scope and the state stores it. */
export function formatScope(s: Scope): string {
  return s.kind === 'group' ? `group:${s.group}` : s.kind;
}

/** Parse `fleet`, `origin` or `group:NAME`; null otherwise. */
export function parseScope(text: string): Scope | null {
  const t = text.trim();
  if (t === 'fleet') return { kind: 'fleet' };
  if (t === 'origin') return { kind: 'origin' };
  const m = /^group:([A-Za-z0-9_.-]+)$/.exec(t);
  return m ? { kind: 'group', group: m[1]! } : null;
}
