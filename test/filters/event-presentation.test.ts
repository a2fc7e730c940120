import { describe, expect, it } from 'vitest';
import { loadFilter, type FilterResult } from '../../src/filters/filter.js';
import { presentEvent } from '../../src/filters/event-text.js';
import type { LogEvent } from '../../src/model/log-event.js';
import { missing } from '../helpers/requirements.js';

const CONF = new URL('../../conf', import.meta.url).pathname;
const FAIL2BAN = '/etc/fail2ban';

const T = Date.UTC(2026, 2, 1, 10, 0, 0);

function event(over: Partial<LogEvent>): LogEvent {
  return { time: T, received: T + 5, source: 'udp', origin: 'mx1', message: '', raw: '', ...over };
}

function ipOf(r: FilterResult): string | undefined {
  return r.kind === 'failure' ? r.match.ip : undefined;
}

/** The same failure as it arrives three ways: a file line, an RFC 3164 or 5424 message, a journal entry. */
const cases = [
  {
    filter: 'courier-auth',
    file: 'Mar  1 10:00:00 mx1 imapd-ssl: LOGIN FAILED, user=a@example.com, ip=[::ffff:203.0.113.7]',
    app: 'imapd-ssl',
    message: 'LOGIN FAILED, user=a@example.com, ip=[::ffff:203.0.113.7]',
    ip: '203.0.113.7',
  },
  {
    filter: 'courier-smtp',
    file: 'Mar  1 10:00:00 mx1 courieresmtpd[77]: error,relay=2001:db8::5,msg="535 Authentication failed.",cmd: AUTH PLAIN eA==',
    app: 'courieresmtpd',
    message: 'error,relay=2001:db8::5,msg="535 Authentication failed.",cmd: AUTH PLAIN eA==',
    ip: '2001:db8::5',
  },
  {
    filter: 'vpopmail',
    file: "Mar  1 10:00:00 mx1 vpopmail[77]: vchkpw-pop3: password fail (pass: 'x') a@example.com:198.51.100.9",
    app: 'vpopmail',
    message: "vchkpw-pop3: password fail (pass: 'x') a@example.com:198.51.100.9",
    ip: '198.51.100.9',
  },
];

describe('one filter, the same failures whatever way the event came', () => {
  it('presents an event as HOSTNAME APP[PID]: MESSAGE, as fail2ban presents journal entries', () => {
    expect(presentEvent(event({ hostname: 'mx1', app: 'imapd', pid: '12', message: 'hello' }))).toBe('mx1 imapd[12]: hello');
    expect(presentEvent(event({ hostname: 'mx1', app: 'imapd', message: 'hello' }))).toBe('mx1 imapd: hello');
    expect(presentEvent(event({ origin: 'mx9', message: 'a\nb' }))).toBe('mx9 a\\nb');
  });

  for (const c of cases) {
    it(`${c.filter}: file line, RFC 3164, RFC 5424 and journal give ${c.ip}`, () => {
      const f = loadFilter(CONF, c.filter);
      expect(ipOf(f.matchLine(c.file, T))).toBe(c.ip);
      // RFC 3164: TAG "app[pid]:" parsed into app and pid.
      const bsd = f.matchEvent(event({ source: 'udp', hostname: 'mx1', app: c.app, pid: '77', message: c.message }));
      expect(ipOf(bsd)).toBe(c.ip);
      // RFC 5424 with PROCID "-" (no pid), over TLS.
      const r5424 = f.matchEvent(event({ source: 'tls', hostname: 'mx1.example.net', app: c.app, message: c.message, facility: 2, severity: 6 }));
      expect(ipOf(r5424)).toBe(c.ip);
      // Journal: SYSLOG_IDENTIFIER and _PID, no hostname from the wire.
      const journal = f.matchEvent(event({ source: 'journal', hostname: 'mx1', app: c.app, pid: '77', message: c.message }));
      expect(ipOf(journal)).toBe(c.ip);
    });
  }

  it("takes the event's time, not a date in the message, and falls back to the arrival time", () => {
    const f = loadFilter(CONF, 'courier-auth');
    const r = f.matchEvent(event({ hostname: 'mx1', app: 'imapd', message: cases[0]!.message }));
    expect(r.kind === 'failure' && r.match.time).toBe(T);
    const noTime = f.matchEvent(event({ time: NaN, hostname: 'mx1', app: 'imapd', message: cases[0]!.message }));
    expect(noTime.kind === 'failure' && noTime.match.time).toBe(T + 5);
  });

  it('a filter set to logtype=rfc5424 for files still matches events', () => {
    const f = loadFilter(CONF, 'courier-auth[logtype=rfc5424]');
    const line = '<22>1 2024-03-01T00:00:00.849159+00:00 mx07 pop3d 9450 - - LOGIN FAILED, user=a, ip=[::ffff:203.0.113.101]';
    expect(ipOf(f.matchLine(line, T))).toBe('203.0.113.101');
    expect(ipOf(f.matchEvent(event({ hostname: 'mx07', app: 'pop3d', pid: '9450', message: 'LOGIN FAILED, user=a, ip=[::ffff:203.0.113.101]' })))).toBe(
      '203.0.113.101',
    );
  });

  it('the password in a vchkpw event never reaches the match', () => {
    const f = loadFilter(CONF, 'vpopmail');
    const r = f.matchEvent(event({ hostname: 'mx1', app: 'vpopmail', pid: '1', message: "vchkpw-smtp: password fail (pass: 'Summer2024!') a@b:203.0.113.3" }));
    expect(JSON.stringify(r)).not.toContain('Summer2024');
  });
});

describe.skipIf(missing("fail2ban's own filter files with events", { commands: ['fail2ban-regex'] }))(
  "fail2ban's common.conf __prefix_line with events",
  () => {
    for (const c of cases.slice(0, 2)) {
      it(`${FAIL2BAN}/filter.d/${c.filter}.conf matches the ${c.filter} event`, () => {
        const f = loadFilter(FAIL2BAN, `${FAIL2BAN}/filter.d/${c.filter}.conf`);
        expect(ipOf(f.matchLine(c.file, T))).toBe(c.ip);
        expect(ipOf(f.matchEvent(event({ hostname: 'mx1', app: c.app, pid: '77', message: c.message })))).toBe(c.ip);
        expect(ipOf(f.matchEvent(event({ source: 'journal', app: c.app, message: c.message })))).toBe(c.ip);
      });
    }
  },
);
