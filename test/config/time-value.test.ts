import { describe, expect, it } from 'vitest';
import { formatTimeValue, parseTimeValue } from '../../src/config/time-value.js';

describe('time values as fail2ban writes them', () => {
  it.each([
    ['600', 600],
    ['-1', -1],
    ['10m', 600],
    ['1h', 3600],
    ['1d', 86400],
    ['1w', 604800],
    ['1d12h', 129600],
    ['1h 30m', 5400],
    ['0d 1h 30m', 5400],
    ['1hour+30min', 5400],
    ['6 months', 15778800],
    ['1year-6mo', 15778800],
    ['1mo', 2629800],
    ['1y', 31557600],
    ['2*1h', 7200],
    ['90s', 90],
    ['1.5h', 5400],
    ['1h30', 3630],
  ])('%s is %d seconds', (text, seconds) => {
    expect(parseTimeValue(text)).toBeCloseTo(seconds, 6);
  });

  it.each(['', 'ten minutes', '10 parsecs', '((1h)', '1h)', 'rm -rf /', '10m;'])('refuses %j', (text) => {
    expect(parseTimeValue(text)).toBeNull();
  });

  it('prints times for people', () => {
    expect(formatTimeValue(600)).toBe('10m');
    expect(formatTimeValue(129600)).toBe('1d 12h');
    expect(formatTimeValue(-1)).toBe('permanent');
    expect(formatTimeValue(3 * 86400 * 7 + 5)).toBe('3w 5s');
  });
});
