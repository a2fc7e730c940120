/**
 * Which mail servers receive a ban: every host, only the host the failures
 * were seen on, or the hosts of one fleet.conf group.
 */
export type Scope = { kind: 'fleet' } | { kind: 'origin' } | { kind: 'group'; group: string };

/** A jail decided (or an administrator asked) that `ip` is banned until `until`. */
export interface BanDecision {
  jail: string;
  ip: string;
  /** ms since the epoch. */
  since: number;
  /** ms since the epoch; null bans for ever (fail2ban's negative bantime). */
  until: number | null;
  /** How many times this ip has been banned (1 for the first ban), for bantime.increment. */
  count: number;
  /** Failures that led to the ban. */
  failures: number;
  scope: Scope;
  /** Origins the failures came from (for scope = origin). */
  origins: string[];
  /** Fields of the last failure, for action tags like <F-USER>. */
  fields: Record<string, string>;
  /** True when `fleetban ban` asked for it. */
  manual: boolean;
}
