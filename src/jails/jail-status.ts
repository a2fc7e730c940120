import type { FilterLosses } from '../filters/filter-losses.js';

/** What `fleetban status [JAIL]` shows of a jail (fail2ban-client's status, plus fleetban's counters). */
export interface JailStatus {
  jail: string;
  /** filter.d name, or null for a jail fed by `sources = bans`. */
  filter: string | null;
  scope: string;
  /** Empty: every log source. */
  sources: string[];
  maxRetry: number;
  /** Seconds. */
  findTime: number;
  /** Seconds; negative for ever. */
  banTime: number;
  /** Addresses with failures inside findtime now. */
  currentlyFailed: number;
  /** Failures counted since the service started. */
  totalFailed: number;
  currentlyBanned: number;
  /** Bans since the service started. */
  totalBanned: number;
  /** Failures of addresses never to be banned (ignoreip, ignoreself, ignorecommand, loopback, fleet hosts). */
  ignored: number;
  /** Failures whose stamp lay in the future or before findtime, counted at arrival time. */
  forged: number;
  /**
   * Lines the jail's filter saw and could not use, for the status of one
   * jail (the service's filter counters): a host name instead of an address
   * (never resolved, see usedns), an ambiguous address, too long, too slow.
   */
  linesLost?: FilterLosses;
  /** Banned addresses, for the status of one jail. */
  bannedIps?: string[];
}
