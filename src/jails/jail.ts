import type { Ban } from '../bans/ban.js';
import type { SharedFailure } from '../state/state-store.js';
import { BanTimeIncrement } from './ban-time-increment.js';
import { FailureWindow } from './failure-window.js';
import { IgnoreList } from './ignore-list.js';
import type { JailConfig } from '../config/jail-config.js';
import { MatchRing } from './match-ring.js';


/**
 * One jail at run time (fail2ban's server-side jail): its configuration, its
 * failure window, its bans, and its counters. JailManager drives it;
 * its bans are the ban book's.
 */
export class Jail {
  window: FailureWindow;
  readonly ring = new MatchRing(4096);
  ignore: IgnoreList;
  increment: BanTimeIncrement;
  /** Failures counted here for the other nodes of a cluster, until the next flush. */
  readonly outbox: SharedFailure[] = [];
  /** Failure rows to delete at the next flush (addresses evicted or now ignored). */
  deleted: string[] = [];
  /** Earlier ban counts (bantime.increment): a known offender's failures weigh more. */
  readonly badCounts = new Map<string, number>();
  /** ignorecommand verdicts "ignore": address -> until (ms). */
  readonly commandIgnores = new Map<string, number>();
  /** Addresses whose ignorecommand is running. */
  readonly commandPending = new Set<string>();

  totalFailed = 0;
  totalBanned = 0;
  ignored = 0;
  forged = 0;
  evicted = 0;
  forgedLoggedAt = -Infinity;
  forgedSuppressed = 0;

  constructor(
    public config: JailConfig,
    random: () => number,
    /** The jail's bans, by address or network: the ban book's own map (read only here). */
    readonly bans: ReadonlyMap<string, Ban>,
  ) {
    this.window = new FailureWindow(config.maxRetry, config.findTime * 1000);
    this.ignore = new IgnoreList(config.ignoreIp, config.ignoreSelf);
    this.increment = new BanTimeIncrement(config.increment, random);
  }

  get name(): string {
    return this.config.name;
  }

  get findTimeMs(): number {
    return this.config.findTime * 1000;
  }

  /** Take a new configuration of the same jail, keeping its failures and bans. */
  reconfigure(config: JailConfig, random: () => number): void {
    const old = this.config;
    this.config = config;
    this.ignore = new IgnoreList(config.ignoreIp, config.ignoreSelf);
    this.increment = new BanTimeIncrement(config.increment, random);
    if (old.maxRetry !== config.maxRetry || old.findTime !== config.findTime) {
      // The window's shape changed: carry the failures over into a new one.
      const prev = this.window;
      const next = new FailureWindow(config.maxRetry, config.findTime * 1000);
      for (const key of prev.keys()) {
        const from = prev.lookup(key);
        const snap = prev.snapshotAt(from);
        const to = next.allocate(key);
        next.setLastLine(to, prev.lastLineAt(from));
        for (let i = 0; i < snap.times.length; i++) next.addAt(to, snap.times[i]!, snap.origins[i]!, 1);
      }
      this.window = next;
    }
    if (!config.increment.enabled) this.badCounts.clear();
  }
}
