import { describe, expect, it } from 'vitest';
import { DEFAULT_FORMULA, FormulaError, compileFormula, evaluateConstant } from '../../src/config/ban-time-formula.js';
import type { BanTimeIncrementConfig } from '../../src/config/jail-config.js';
import { BanTimeIncrement } from '../../src/jails/ban-time-increment.js';

const base: BanTimeIncrementConfig = { enabled: true, factor: 1, formula: DEFAULT_FORMULA, multipliers: [], overallJails: false };

/** Ban times, in seconds, of the 1st, 2nd, ... ban of one address. */
function series(cfg: Partial<BanTimeIncrementConfig>, bantime: number, bans: number): number[] {
  const inc = new BanTimeIncrement({ ...base, ...cfg }, () => 0.5);
  return Array.from({ length: bans }, (_, previous) => inc.banTime(bantime, previous));
}

// The examples are the ones fail2ban's jail.conf documents next to each option.
describe("bantime.increment, against fail2ban's documented examples", () => {
  it('the default formula grows the ban time by 1, 2, 4, 8, 16, 32...', () => {
    expect(series({}, 600, 7)).toEqual([600, 1200, 2400, 4800, 9600, 19200, 38400]);
  });

  it('the default formula stops doubling after 20 earlier bans', () => {
    const inc = new BanTimeIncrement(base);
    expect(inc.banTime(1, 20)).toBe(2 ** 20);
    expect(inc.banTime(1, 30)).toBe(2 ** 20);
  });

  it('bantime.factor multiplies the formula', () => {
    expect(series({ factor: 3 }, 600, 3)).toEqual([600, 3600, 7200]);
  });

  it('multipliers 1 2 4 8 16 32 64 with bantime 600 reach "10.6 hours" and stay there', () => {
    const s = series({ multipliers: [1, 2, 4, 8, 16, 32, 64] }, 600, 10);
    expect(s.slice(0, 7)).toEqual([600, 1200, 2400, 4800, 9600, 19200, 38400]);
    expect(s[9]).toBe(38400);
    expect(38400 / 3600).toBeCloseTo(10.67, 2);
  });

  it('multipliers 1 5 30 60 300 720 1440 2880 with bantime 60: 1 min, 5 min, 30 min, 1 hour, 5 hours, 12 hours, 1 day, 2 days', () => {
    const s = series({ multipliers: [1, 5, 30, 60, 300, 720, 1440, 2880] }, 60, 8);
    expect(s).toEqual([60, 300, 1800, 3600, 5 * 3600, 12 * 3600, 86400, 2 * 86400]);
  });

  it('the "more aggressive" exp formula has the same values for factor 2.0 / 2.885385', () => {
    const factor = evaluateConstant('2.0 / 2.885385');
    const exp = series({ factor, formula: 'ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)' }, 600, 6);
    const doubling = [600, 1200, 2400, 4800, 9600, 19200];
    exp.forEach((v, i) => expect(v / doubling[i]!).toBeCloseTo(1, 4));
  });

  it('bantime.maxtime caps the growth; bantime.rndtime adds up to that many random seconds', () => {
    expect(series({ maxTime: 3000 }, 600, 5)).toEqual([600, 1200, 2400, 3000, 3000]);
    // random() is 0.5 in series(): half of rndtime is added to every increased ban.
    expect(series({ rndTime: 100 }, 600, 2)).toEqual([600, 1250]);
  });

  it('a permanent ban stays permanent; increment off leaves bantime alone', () => {
    expect(series({}, -1, 3)).toEqual([-1, -1, -1]);
    expect(series({ enabled: false }, 600, 3)).toEqual([600, 600, 600]);
  });

  it('a formula never gives less than bantime', () => {
    expect(series({ formula: 'ban.Time / 10' }, 600, 3)).toEqual([600, 600, 600]);
  });

  it("known offenders' failures weigh 2, 3, 5, 9, ... up to maxretry", () => {
    expect([0, 1, 2, 3, 4].map((n) => BanTimeIncrement.failureWeight(n, 100))).toEqual([1, 2, 3, 5, 9]);
    expect(BanTimeIncrement.failureWeight(10, 5)).toBe(5);
  });
});

describe('the formula language', () => {
  const run = (f: string, time = 600, count = 2, factor = 1) => compileFormula(f)({ time, count, factor });

  it('reads Python operators with their precedence', () => {
    expect(run('1 + 2 * 3 ** 2')).toBe(19);
    expect(run('-2 ** 2')).toBe(-4);
    expect(run('7 // 2 + 7 % -3')).toBe(3 + -2);
    expect(run('1 << 40')).toBe(2 ** 40);
    expect(run('ban.Count if ban.Count < 1 else 9')).toBe(9);
    expect(run('1 < ban.Count < 3')).toBe(1);
    expect(run('not 0 and (2 or 3)')).toBe(2);
    expect(run('max(ban.Time, 5, 7) + min(1, 2) + abs(-1) + int(2.9) + round(2.5)')).toBe(600 + 1 + 1 + 2 + 2);
  });

  it.each([
    ['__import__(1)', /unknown function/],
    ['open("x")', /unexpected/],
    ['os.system', /unknown name/],
    ['ban.Time *', /ends too early/],
    ['ban.Time ; 1', /unexpected ";"/],
    ['(1', /expected "\)"/],
    ['math.exp(1, 2)', /takes 1 arguments/],
    ['1 if 2', /expected "else"/],
  ])('refuses %j, saying where', (f, msg) => {
    expect(() => compileFormula(f)).toThrow(FormulaError);
    expect(() => compileFormula(f)).toThrow(msg);
  });

  it('refuses expressions nested too deeply instead of exhausting the stack', () => {
    expect(() => compileFormula('('.repeat(500) + '1' + ')'.repeat(500))).toThrow(/nested too deeply/);
    expect(() => compileFormula('-'.repeat(500) + '1')).toThrow(/nested too deeply/);
  });
});
