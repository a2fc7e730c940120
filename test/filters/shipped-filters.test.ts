import { describe, expect, it } from 'vitest';
import { loadFilter, type FilterResult } from '../../src/filters/filter.js';

/** fleetban's own conf/ directory, as shipped. */
const CONF = new URL('../../conf', import.meta.url).pathname;

const NOW = Date.UTC(2026, 10, 21, 12);

function failure(r: FilterResult) {
  if (r.kind !== 'failure') throw new Error(`expected a failure, got ${JSON.stringify(r)}`);
  return r.match;
}

describe('vpopmail', () => {
  const f = loadFilter(CONF, 'vpopmail');
  const line = (msg: string) => `Mar  1 10:00:00 mx1.example.net vpopmail[4242]: ${msg}`;

  it.each([
    ['vchkpw-pop3: vpopmail user not found www@:24.153.205.71', '24.153.205.71', 'www@'],
    ['vchkpw-smtp: password fail someone@example.com:203.0.113.7', '203.0.113.7', 'someone@example.com'],
    ['vchkpw-submission: password fail someone@example.com:203.0.113.7', '203.0.113.7', 'someone@example.com'],
    ['vchkpw-imap: null password given someone@example.com:198.51.100.2', '198.51.100.2', 'someone@example.com'],
    ['vchkpw-pop3s: invalid user/domain characters so me@x:198.51.100.3', '198.51.100.3', 'so me@x'],
    ['vchkpw-995: null user name given :198.51.100.4', '198.51.100.4', ''],
    ['vchkpw-pop3: system user not found root:203.0.113.9', '203.0.113.9', 'root'],
    // vchkpw writes an IPv6 address of up to 30 characters with '_' for ':', a longer one as it is.
    ['vchkpw-smtps: password fail admin@example.com:2001_db8__7', '2001:db8::7', 'admin@example.com'],
    ['vchkpw-smtps: password fail admin@example.com:2001:db8:1234:5678:9abc:def0:1234:5678', '2001:db8:1234:5678:9abc:def0:1234:5678', 'admin@example.com'],
    ['vchkpw-imap: null password given a:b:2001:db8:1234:5678:9abc:def0:1234:5678', '2001:db8:1234:5678:9abc:def0:1234:5678', 'a:b'],
  ])('%s', (msg, ip, user) => {
    const m = failure(f.matchLine(line(msg), NOW));
    expect(m.ip).toBe(ip);
    expect(m.fields.user ?? '').toBe(user);
    expect(m.time).toBe(Date.UTC(2026, 2, 1, 10));
  });

  it('never captures or shows a password vchkpw logged, even one full of quotes and colons', () => {
    for (const pw of ["hunter2", "it's') me:1.2.3.4", "a') b') c", ""]) {
      const r = f.matchLine(line(`vchkpw-pop3: password fail (pass: '${pw}') office@example.com:203.0.113.7`), NOW);
      const m = failure(r);
      expect(m.ip).toBe('203.0.113.7');
      expect(m.fields).toEqual({ user: 'office@example.com' });
      if (pw) expect(m.line).not.toContain(pw);
      expect(m.line).toContain("(pass: '***')");
      expect(JSON.stringify(m)).not.toMatch(/hunter2|it's/);
    }
  });

  it('does not count successful logins or other programs', () => {
    expect(f.matchLine(line('vchkpw-pop3: (PLAIN) login success someone@example.com:203.0.113.7'), NOW).kind).toBe('missed');
    expect(f.matchLine('Mar  1 10:00:00 mx1 imapd: password fail someone@example.com:203.0.113.7', NOW).kind).toBe('missed');
  });

  it('takes the address from the end, whatever the login contains', () => {
    const m = failure(f.matchLine(line('vchkpw-pop3: vpopmail user not found 198.51.100.99@x:203.0.113.7'), NOW));
    expect(m.ip).toBe('203.0.113.7');
    const n = failure(f.matchLine(line('vchkpw-pop3: null password given a:198.51.100.99:203.0.113.8'), NOW));
    expect(n.ip).toBe('203.0.113.8');
  });

  it('counts refused services only in aggressive mode', () => {
    const denied = line('vchkpw-pop3: pop access denied someone@example.com:203.0.113.7');
    expect(f.matchLine(denied, NOW).kind).toBe('missed');
    expect(failure(loadFilter(CONF, 'vpopmail[mode=aggressive]').matchLine(denied, NOW)).ip).toBe('203.0.113.7');
  });
});

describe('courier-auth', () => {
  const f = loadFilter(CONF, 'courier-auth');
  const line = (prog: string, msg: string) => `Mar  1 10:00:00 mx2.example.net ${prog}: ${msg}`;

  it.each([
    ['imapd', 'LOGIN FAILED, user=someone@example.com, ip=[::ffff:203.0.113.7]', '203.0.113.7', 'someone@example.com'],
    ['pop3d', 'LOGIN FAILED, user=someone, ip=[::ffff:203.0.113.7]', '203.0.113.7', 'someone'],
    ['imapd-ssl', 'LOGIN FAILED, method=PLAIN, ip=[2001:db8::7]', '2001:db8::7', undefined],
    ['pop3d-ssl', 'LOGIN FAILED, user=a, ip=[::ffff:198.51.100.1], port=[50123]', '198.51.100.1', 'a'],
    ['courierpop3login', 'LOGIN FAILED, user=a, ip=[203.0.113.8]', '203.0.113.8', 'a'],
    ['courierimaplogin', 'LOGIN FAILED, user=a, ip=[2001:DB8:0::8]', '2001:db8::8', 'a'],
    ['imapd[4321]', 'LOGIN FAILED, user=a, ip=[::ffff:203.0.113.9], port=[1234]', '203.0.113.9', 'a'],
  ])('%s: %s', (prog, msg, ip, user) => {
    const m = failure(f.matchLine(line(prog, msg), NOW));
    expect(m.ip).toBe(ip);
    expect(m.fields.user).toBe(user);
  });

  it('does not count successful logins, logouts and connections', () => {
    for (const msg of [
      'LOGIN, user=someone, ip=[::ffff:203.0.113.7], port=[1234], protocol=IMAP',
      'LOGOUT, user=someone, ip=[::ffff:203.0.113.7], headers=0, body=0, rcvd=10, sent=20, time=3',
      'Connection, ip=[::ffff:203.0.113.7]',
      'Disconnected, ip=[::ffff:203.0.113.7], time=1',
    ]) {
      expect(f.matchLine(line('imapd', msg), NOW).kind).toBe('missed');
    }
  });

  it('an ip=[...] inside the user name does not choose the address', () => {
    const m = failure(f.matchLine(line('imapd', 'LOGIN FAILED, user=x, ip=[198.51.100.66], port=[1], ip=[::ffff:203.0.113.7]'), NOW));
    expect(m.ip).toBe('203.0.113.7');
    expect(m.fields.user).toBe('x, ip=[198.51.100.66], port=[1]');
  });

  it('a user name that looks like an address is just a user name', () => {
    const m = failure(f.matchLine(line('imapd', 'LOGIN FAILED, user=198.51.100.66, ip=[::ffff:203.0.113.7]'), NOW));
    expect(m.ip).toBe('203.0.113.7');
  });

  it('refuses lines whose address is no address', () => {
    expect(f.matchLine(line('imapd', 'LOGIN FAILED, user=a, ip=[999.1.1.1]'), NOW).kind).toBe('missed');
  });
});

describe('courier-smtp', () => {
  const f = loadFilter(CONF, 'courier-smtp');
  const line = (msg: string) => `Mar  1 10:00:00 mx3.example.net courieresmtpd: ${msg}`;

  it.each([
    ['error,relay=::ffff:203.0.113.7,msg="535 Authentication failed.",cmd: AUTH PLAIN AGZvbwBiYXI=', '203.0.113.7'],
    ['error,relay=::ffff:203.0.113.7,port=50123,msg="535 Authentication failed.",cmd: AUTH LOGIN someone', '203.0.113.7'],
    ['error,relay=2001:db8::9,msg="535 Authentication failed.",cmd: dGVzdA==', '2001:db8::9'],
    ['error,relay=::ffff:198.51.100.2,ident=tmf,from=<a@example.com>,to=<nobody@example.net>: 550 User unknown.', '198.51.100.2'],
    ['error,relay=::ffff:198.51.100.2,from=<a@example.com>,to=<b@example.net>: 550 User <b> unknown', '198.51.100.2'],
  ])('%s', (msg, ip) => {
    expect(failure(f.matchLine(line(msg), NOW)).ip).toBe(ip);
  });

  it('does not count temporary rejections or accepted sessions', () => {
    expect(f.matchLine(line('error,relay=::ffff:198.51.100.2,ident=tmf,from=<a@b>: 432 Mail server temporarily rejected message.'), NOW).kind).toBe('missed');
    expect(f.matchLine(line('started,ip=[::ffff:198.51.100.2]'), NOW).kind).toBe('missed');
  });

  it('mode=auth counts only authentication failures', () => {
    const auth = loadFilter(CONF, 'courier-smtp[mode=auth]');
    expect(auth.matchLine(line('error,relay=::ffff:198.51.100.2,from=<a@b>,to=<c@d>: 550 User unknown.'), NOW).kind).toBe('missed');
  });
});

describe('journalmatch of the shipped filters', () => {
  it('is kept for the journal source', () => {
    expect(loadFilter(CONF, 'vpopmail').journalmatch).toEqual([['SYSLOG_IDENTIFIER=vpopmail'], ['SYSLOG_IDENTIFIER=vchkpw']]);
    expect(loadFilter(CONF, 'courier-smtp').journalmatch).toContainEqual(['_COMM=courieresmtpd']);
  });
});
