import type { Scope } from './scope.js';

export type { Scope } from './scope.js';

/**
 * A ban: one address (or, for a jail counting IPv6 per prefix, one network)
 * kept out of the mail servers in a scope until a time. The one shape of a
 * ban everywhere in fleetban: the jails decide it, the book (ban-book.ts)
 * commits, announces, restores and expires it, the state stores it, the
 * fleet pushes it, the control socket lists it.
 *
 * Times are ms since the epoch.
 */
export interface Ban {
  jail: string;
  /** Canonical address, or network as `prefixKey` prints it (2001:db8::/64). */
  ip: string;
  since: number;
  /** When it ends; null: for ever (fail2ban's negative bantime). */
  until: number | null;
  /** How many times this address has been banned in the jail, this ban included (bantime.increment). */
  count: number;
  /** Failures that led to it (0 for a manual ban). */
  failures: number;
  scope: Scope;
  /** Fleet hosts the failures were seen on (what `scope = origin` bans on). */
  origins: string[];
  /** Captured fields of the last failure, for action tags like <F-USER>; attacker text, quoted before any shell. */
  fields: Record<string, string>;
  /** The matched lines kept with it (maxmatches), passwords removed. */
  matches: string[];
  /** True when an administrator asked for it (`fleetban ban`). */
  manual: boolean;
}

/** What names a ban: one per jail and address, in the book, the state and every ledger. */
export interface BanKey {
  jail: string;
  ip: string;
}

/**
 * Why a ban ended: its time ran out; an administrator lifted it; it ended
 * while the service was down (or its jail is gone) and is lifted at start;
 * its jail was removed by a reload.
 */
export type UnbanReason = 'expired' | 'manual' | 'start' | 'reload';

/** One string per jail and address, for maps (jail names never hold a NUL). */
export function banKeyOf(jail: string, ip: string): string {
  return `${jail}\u0000${ip}`;
}
