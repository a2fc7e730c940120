import { describe, expect, test } from 'vitest';
import { inferYear } from '../../src/syslog/year.js';

const at = (iso: string) => Date.parse(iso);
const JAN = 0;
const FEB = 1;
const AUG = 7;
const NOV = 10;
const DEC = 11;

describe('inferYear: the year of an RFC 3164 stamp, which has none', () => {
  test('a stamp from a minute ago is this year', () => {
    expect(inferYear(NOV, 21, 19, 28, 18, at('2026-11-21T19:29:00Z'))).toBe(2026);
  });

  test('a "Dec 31" line read on January 1st is last year\'s', () => {
    expect(inferYear(DEC, 31, 23, 59, 58, at('2027-01-01T00:00:05Z'))).toBe(2026);
  });

  test('a "Jan  1" line read late on December 31st (sender clock ahead) is next year\'s', () => {
    expect(inferYear(JAN, 1, 0, 0, 2, at('2026-12-31T23:59:50Z'))).toBe(2027);
  });

  test('a stamp a few hours ahead (a sender east of us writing local time) is still today', () => {
    expect(inferYear(NOV, 22, 4, 0, 0, at('2026-11-21T20:00:00Z'))).toBe(2026);
  });

  test('a line from last January read in August is this year\'s, not five months ahead', () => {
    expect(inferYear(JAN, 15, 12, 0, 0, at('2026-08-15T12:00:00Z'))).toBe(2026);
  });

  test('a line from next week is last year\'s: logs are about the past', () => {
    expect(inferYear(AUG, 22, 12, 0, 0, at('2026-08-15T12:00:00Z'))).toBe(2025);
  });

  test('February 29th goes to the latest leap year', () => {
    expect(inferYear(FEB, 29, 10, 0, 0, at('2028-03-01T00:00:00Z'))).toBe(2028);
    expect(inferYear(FEB, 29, 10, 0, 0, at('2027-01-10T00:00:00Z'))).toBe(2024);
  });
});
