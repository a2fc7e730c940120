import { describe, expect, it } from 'vitest';
import { DateDetector, dateSpan } from '../../src/filters/date-detector.js';
import { timeFromFields } from '../../src/filters/strptime.js';

/** Where the detector finds the date in `line`, and the time it states (UTC for stamps with a zone). */
function date(pattern: string | undefined, line: string, now = Date.UTC(2026, 10, 21, 12, 0, 0)) {
  const d = new DateDetector(pattern, new Date(now));
  if (!d.find(line)) return null;
  const [s, e] = dateSpan(d.template!, d.match!);
  return { text: line.slice(s, e), rest: line.slice(0, s) + line.slice(e), time: d.template!.time(line, now, 0) };
}

describe('date patterns', () => {
  it('finds a syslog stamp at the line start with {^LN-BEG} and cuts only the date', () => {
    const r = date('{^LN-BEG}', 'Mar  1 00:00:07 mx1 imapd: LOGIN FAILED, user=a, ip=[::ffff:203.0.113.5]');
    expect(r?.text).toBe('Mar  1 00:00:07');
    expect(r?.rest).toBe(' mx1 imapd: LOGIN FAILED, user=a, ip=[::ffff:203.0.113.5]');
    expect(r?.time).toBe(Date.UTC(2026, 2, 1, 0, 0, 7));
  });

  it('does not take a date from the middle of the line with {^LN-BEG}', () => {
    expect(date('{^LN-BEG}', 'mx1 imapd: user=Mar  1 00:00:07')).toBeNull();
  });

  it('takes a date in brackets at the line start, leaving the brackets', () => {
    const r = date('{^LN-BEG}', '[2024-03-01 10:20:30] x');
    expect(r?.text).toBe('2024-03-01 10:20:30');
    expect(r?.rest).toBe('[] x');
  });

  it('reads ISO 8601 with a zone offset', () => {
    const r = date('{^LN-BEG}', '2024-03-01T10:20:30.123456+02:00 mx1 imapd: x');
    expect(r?.time).toBe(Date.UTC(2024, 2, 1, 8, 20, 30));
  });

  it('cuts the RFC 5424 header with ^<\\d+>\\d+\\s+{DATE} (common.conf, logtype rfc5424)', () => {
    const r = date('^<\\d+>\\d+\\s+{DATE}', '<22>1 2024-03-01T00:00:00.849159+00:00 mx07 pop3d 9450 - - LOGIN FAILED');
    expect(r?.rest).toBe(' mx07 pop3d 9450 - - LOGIN FAILED');
    expect(r?.time).toBe(Date.UTC(2024, 2, 1));
  });

  it('reads strptime patterns with %% escapes already undone by the config reader', () => {
    const r = date('^%Y-%m-%d %H:%M:%S', '2025-12-24 18:00:01 x');
    expect(r?.time).toBe(Date.UTC(2025, 11, 24, 18, 0, 1));
    expect(date('^%d/%b/%Y:%H:%M:%S', '05/Jan/2026:01:02:03 x')?.time).toBe(Date.UTC(2026, 0, 5, 1, 2, 3));
  });

  it('reads epoch seconds', () => {
    expect(date('{^LN-BEG}EPOCH', '1700000000 x')?.time).toBe(1700000000_000);
    expect(date('EPOCH', 'type=LOGIN msg=audit(1700000000.123:42): x')?.time).toBe(1700000000_123);
  });

  it('finds any of fail2ban default formats without a datepattern', () => {
    expect(date(undefined, 'some prefix 2024-03-01 10:20:30 rest')?.text).toBe('2024-03-01 10:20:30');
  });

  it('{NONE} means the line states no time', () => {
    const d = new DateDetector('{NONE}');
    expect(d.none).toBe(true);
  });
});

describe('the year of a stamp without one (RFC 3164)', () => {
  const fields = (b: string, d: string) => ({ b, d, H: '23', M: '59', S: '00' });

  it('a Dec 31 line read on Jan 1 is last year', () => {
    const now = Date.UTC(2027, 0, 1, 0, 5);
    expect(timeFromFields(fields('Dec', '31'), now, 0)).toBe(Date.UTC(2026, 11, 31, 23, 59));
  });

  it('a Jan 1 line read just before midnight on Dec 31 (a server ahead of us) is next year', () => {
    const now = Date.UTC(2026, 11, 31, 23, 30);
    expect(timeFromFields({ b: 'Jan', d: '1', H: '00', M: '10', S: '00' }, now, 0)).toBe(Date.UTC(2027, 0, 1, 0, 10));
  });

  it('a March line read in November is this year, never the future', () => {
    const now = Date.UTC(2026, 10, 21);
    expect(timeFromFields(fields('Mar', '1'), now, 0)).toBe(Date.UTC(2026, 2, 1, 23, 59));
  });

  it('Feb 29 goes to the last leap year that is not in the future', () => {
    const now = Date.UTC(2026, 5, 1);
    expect(timeFromFields(fields('Feb', '29'), now, 0)).toBe(Date.UTC(2024, 1, 29, 23, 59));
  });

  it('an impossible date is NaN', () => {
    expect(timeFromFields({ Y: '2026', m: '2', d: '30' }, Date.now(), 0)).toBeNaN();
  });
});
