import { DEFAULT_FORMULA, compileFormula, type Formula } from '../config/ban-time-formula.js';
import type { BanTimeIncrementConfig } from '../config/jail-config.js';

export const NO_INCREMENT: BanTimeIncrementConfig = {
  enabled: false,
  factor: 1,
  formula: DEFAULT_FORMULA,
  multipliers: [],
  overallJails: false,
};

/**
 * fail2ban's `bantime.*` options: an address banned before is banned longer
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
export class BanTimeIncrement {
  private readonly formula: Formula;

  constructor(
    readonly config: BanTimeIncrementConfig,
    private readonly random: () => number = Math.random,
  ) {
    this.formula = compileFormula(config.formula);
  }

  /**
   * The bantime, seconds, for an address banned `previous` times before.
   * `base` is the jail's bantime (negative: for ever).
   */
  banTime(base: number, previous: number): number {
    if (!this.config.enabled || base <= 0 || previous <= 0) return base;
    const c = this.config;
    let t: number;
    if (c.multipliers.length > 0) {
      const m = c.multipliers[Math.min(previous, c.multipliers.length - 1)]!;
      t = base * c.factor * m;
    } else {
      t = Math.max(base, this.formula({ time: base, count: previous, factor: c.factor }));
    }
    // A formula that divides by zero or overflows leaves the ban as configured.
    if (!Number.isFinite(t)) t = c.maxTime ?? base;
    if (c.maxTime !== undefined) t = Math.min(t, c.maxTime);
    if (c.rndTime !== undefined) t += this.random() * c.rndTime;
    return t;
  }

  /**
   * fail2ban's weight of one failure of an address already banned `previous`
   * times: 2, 3, 5, 9, ... (2^n / 2 + 1), never more than maxretry, so a
   * known offender is banned again after fewer attempts.
   */
  static failureWeight(previous: number, maxRetry: number): number {
    if (previous <= 0) return 1;
    return Math.min(Math.floor(2 ** Math.min(previous, 20) / 2) + 1, maxRetry);
  }
}
