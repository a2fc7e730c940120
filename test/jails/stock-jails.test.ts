import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import type { FilterResult } from '../../src/filters/filter.js';
import type { LogEvent } from '../../src/model/log-event.js';
import { retryOffThread } from '../../src/filters/regex-retry.js';
import { loadConfiguration, type ResolvedJail } from '../../src/service/configuration.js';
import { missing } from '../helpers/requirements.js';

const SHIPPED = new URL('../../conf', import.meta.url).pathname;
const STOCK = '/etc/fail2ban/filter.d';
/** The jails conf/jail.conf ships, off, for what runs beside vpopmail and Courier. */
const STOCK_JAILS = ['sshd', 'postfix', 'postfix-sasl', 'dovecot', 'qmail', 'exim', 'recidive'];
const T = Date.UTC(2026, 11, 2, 15, 40, 0);

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A copy of the shipped configuration folder, plus the given files (a jail.local, ...). */
function shippedCopy(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'fleetban-stock-'));
  dirs.push(dir);
  cpSync(SHIPPED, dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

function enableAll(): string {
  return STOCK_JAILS.map((j) => `[${j}]\nenabled = true\n`).join('\n');
}

/** A syslog event as a mail server sends it: `app[pid]: message`. */
function event(app: string, message: string): LogEvent {
  return { time: T, received: T, source: 'udp', origin: 'mx1', hostname: 'mx1', app, pid: '4242', message, raw: '' };
}

function ipOf(r: FilterResult): string | undefined {
  return r.kind === 'failure' ? r.match.ip : undefined;
}

function jail(jails: ResolvedJail[], name: string): ResolvedJail {
  const j = jails.find((x) => x.config.name === name);
  if (!j) throw new Error(`jail ${name} not loaded`);
  return j;
}

describe('the stock jails conf/jail.conf ships', () => {
  it('are all off by default: the shipped configuration runs vpopmail and Courier only', () => {
    const names = loadConfiguration(shippedCopy()).jails.map((j) => j.config.name);
    expect(names).toEqual(['vpopmail', 'courier-auth', 'courier-smtp']);
  });
});

describe.skipIf(missing('stock jails with fail2ban\'s filters', { commands: ['/etc/fail2ban/filter.d/sshd.conf'] }))(
  "the stock jails, enabled, with the installed fail2ban's filter.d",
  () => {
    it('all compile, each filter read from /etc/fail2ban/filter.d with its common.conf', () => {
      const { jails } = loadConfiguration(shippedCopy({ 'jail.local': enableAll() }));
      expect(jails.map((j) => j.config.name)).toEqual(['vpopmail', 'courier-auth', 'courier-smtp', ...STOCK_JAILS]);
      for (const name of STOCK_JAILS.filter((j) => j !== 'recidive')) {
        const f = jail(jails, name).filter!;
        // exim.conf reads exim-common.conf first, the others common.conf.
        expect(f.definition.files.every((file) => file.startsWith(`${STOCK}/`)), name).toBe(true);
        expect(f.definition.files, name).toContain(`${STOCK}/${name === 'exim' ? 'exim-common' : 'common'}.conf`);
        expect(f.definition.files, name).toContain(`${STOCK}/${name === 'postfix-sasl' ? 'postfix' : name}.conf`);
        expect(f.failregex.length, name).toBeGreaterThan(0);
      }
      // fleetban's own recidive: its failures are the other jails' bans, not a log.
      expect(jail(jails, 'recidive').filter).toBeUndefined();
      expect(jail(jails, 'recidive').config.sources).toEqual(['bans']);
    });

    it('use the modes of fail2ban\'s jail.conf: postfix "more", postfix-sasl "auth"', () => {
      const { jails } = loadConfiguration(shippedCopy({ 'jail.local': enableAll() }));
      expect(jail(jails, 'postfix').config.filter).toEqual({ name: 'postfix', params: { mode: 'more' } });
      expect(jail(jails, 'postfix-sasl').config.filter).toEqual({ name: 'postfix', params: { mode: 'auth' } });
      expect(jail(jails, 'sshd').config.filter).toEqual({ name: 'sshd', params: { mode: 'normal' } });
    });

    it('match the failures of OpenSSH, postfix smtpd and dovecot as their daemons log them', () => {
      const { jails } = loadConfiguration(shippedCopy({ 'jail.local': enableAll() }));
      const sshd = jail(jails, 'sshd').filter!;
      expect(ipOf(sshd.matchEvent(event('sshd', 'Failed password for invalid user admin from 203.0.113.7 port 4242 ssh2')))).toBe('203.0.113.7');
      expect(ipOf(sshd.matchEvent(event('sshd', 'Invalid user oracle from 203.0.113.9 port 50022')))).toBe('203.0.113.9');
      const sasl = jail(jails, 'postfix-sasl').filter!;
      const saslLine = 'warning: unknown[203.0.113.8]: SASL LOGIN authentication failed: UGFzc3dvcmQ6';
      expect(ipOf(sasl.matchEvent(event('postfix/smtpd', saslLine)))).toBe('203.0.113.8');
      // ((?i)LOGIN|...) is fail2ban's scoped flag: "login" in lower case is the same failure.
      expect(ipOf(sasl.matchEvent(event('postfix/smtpd', saslLine.replace('LOGIN', 'login'))))).toBe('203.0.113.8');
      // The SMTP AUTH jail does not ban on a rejected recipient; the postfix jail does.
      const reject = 'NOQUEUE: reject: RCPT from unknown[198.51.100.4]: 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in local recipient table; from=<a@example.net> to=<nobody@example.org> proto=ESMTP helo=<x>';
      expect(sasl.matchEvent(event('postfix/smtpd', reject)).kind).toBe('missed');
      expect(ipOf(jail(jails, 'postfix').filter!.matchEvent(event('postfix/smtpd', reject)))).toBe('198.51.100.4');
      const dovecot = jail(jails, 'dovecot').filter!;
      const dove = 'imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<a@example.org>, method=PLAIN, rip=203.0.113.10, lip=198.18.0.1, TLS, session=<abc>';
      expect(ipOf(dovecot.matchEvent(event('dovecot', dove)))).toBe('203.0.113.10');
    });
  },
);

describe.skipIf(missing('usedns with fail2ban\'s sshd filter', { commands: ['/etc/fail2ban/filter.d/sshd.conf'] }))(
  'usedns: a host name where the address should be',
  () => {
    const byName = 'Failed password for root from attacker.example.com port 4242 ssh2';
    const byAddress = 'Failed password for root from 203.0.113.7 port 4242 ssh2';

    it('warn (the default): <HOST> matches the name, which is never resolved: no failure, counted as a host-name line', () => {
      const { jails } = loadConfiguration(shippedCopy({ 'jail.local': '[sshd]\nenabled = true\n' }));
      const sshd = jail(jails, 'sshd');
      expect(sshd.config.useDns).toBe('warn');
      const f = sshd.filter!;
      // Three connections (pids): sshd.conf merges the lines of one (<F-MLFID>), and a name on a
      // connection that named an address before fails as that address, as in fail2ban.
      const conn = (pid: string, m: string) => ({ ...event('sshd', m), pid });
      expect(f.matchEvents([conn('1', byName), conn('2', byAddress), conn('3', byName)]).map(ipOf)).toEqual([undefined, '203.0.113.7', undefined]);
      expect(f.losses.hostName).toBe(2);
      expect(f.matchEvent(event('sshd', byName)).kind).toBe('missed');
      expect(f.losses.hostName).toBe(3);
    });

    it("a host-name line matched by the retry worker (the hot path's time limit cut it) is counted too", async () => {
      const { jails } = loadConfiguration(shippedCopy({ 'jail.local': '[sshd]\nenabled = true\n' }));
      const f = jail(jails, 'sshd').filter!;
      const answer = await retryOffThread(f, event('sshd', byName))!;
      expect(answer).toMatchObject({ result: { kind: 'missed' }, hostName: true });
      expect((await retryOffThread(f, event('sshd', byAddress))!).hostName).toBeUndefined();
    });

    it('no: <HOST> matches addresses only, so the line is simply not matched (and not counted)', () => {
      const { jails } = loadConfiguration(shippedCopy({ 'jail.local': '[sshd]\nenabled = true\nusedns = no\n' }));
      const f = jail(jails, 'sshd').filter!;
      expect(f.matchEvent(event('sshd', byName)).kind).toBe('missed');
      expect(f.losses.hostName).toBe(0);
      expect(ipOf(f.matchEvent(event('sshd', byAddress)))).toBe('203.0.113.7');
    });

    it('another value is refused at its file, line and key', () => {
      const dir = shippedCopy({ 'jail.local': '[sshd]\nenabled = true\nusedns = maybe\n' });
      expect(() => loadConfiguration(dir)).toThrow(`${dir}/jail.local:3: [sshd] usedns: expected yes, warn, no, raw, not "maybe"`);
    });
  },
);

describe('filter_fallback: where a filter name is looked up', () => {
  /** A folder laid out as fail2ban's: filter.d with common.conf and a filter that includes it. */
  function fakeFail2ban(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), 'fleetban-fallback-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'filter.d'));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, 'filter.d', name), text);
    return dir;
  }
  const demo = '[INCLUDES]\nbefore = common.conf\n[Definition]\nfailregex = ^%(_prefix)sbad login from <HOST>$\n';
  const withJail = (fallback: string, extra: Record<string, string> = {}) =>
    shippedCopy({
      'fleetban.local': `[fleetban]\nfilter_fallback = ${fallback}\n`,
      'jail.local': '[demo]\nenabled = true\n',
      ...extra,
    });

  it('reads a name this folder lacks from the fallback, includes from the folder it came from, its .local over it', () => {
    const f2b = fakeFail2ban({ 'common.conf': '[DEFAULT]\n_prefix = \\S+ demo\\[\\d+\\]:\\s+\n', 'demo.conf': demo, 'demo.local': '[Definition]\nignoreregex = from 203\\.0\\.113\\.1$\n' });
    const { jails } = loadConfiguration(withJail(`/nonexistent ${f2b}`));
    const f = jail(jails, 'demo').filter!;
    expect(f.definition.files).toEqual([`${f2b}/filter.d/common.conf`, `${f2b}/filter.d/demo.conf`, `${f2b}/filter.d/demo.local`]);
    expect(ipOf(f.matchEvent(event('demo', 'bad login from 203.0.113.5')))).toBe('203.0.113.5');
    expect(f.matchEvent(event('demo', 'bad login from 203.0.113.1')).kind).toBe('ignored');
  });

  it("prefers this folder's filter.d over the fallback's", () => {
    const f2b = fakeFail2ban({ 'common.conf': '[DEFAULT]\n_prefix = \n', 'demo.conf': demo });
    const own = withJail(f2b, { 'filter.d/demo.conf': '[Definition]\nfailregex = ^ours from <HOST>$\n' });
    const f = jail(loadConfiguration(own).jails, 'demo').filter!;
    expect(f.definition.files).toEqual([`${own}/filter.d/demo.conf`]);
  });

  it('empty: only this folder is searched, and the error says where it looked', () => {
    const f2b = fakeFail2ban({ 'common.conf': '[DEFAULT]\n_prefix = \n', 'demo.conf': demo });
    const dir = withJail('');
    expect(() => loadConfiguration(dir)).toThrow(`no filter "demo" in ${dir}/filter.d (`);
    const dir2 = withJail(f2b, { 'jail.local': '[demo]\nenabled = true\nfilter = nosuch\n' });
    expect(() => loadConfiguration(dir2)).toThrow(`no filter "nosuch" in ${dir2}/filter.d, ${f2b}/filter.d (`);
  });

  it('a mistake in a fallback filter is reported at its own file and line', () => {
    const f2b = fakeFail2ban({ 'common.conf': '[DEFAULT]\n_prefix = \n', 'demo.conf': '[INCLUDES]\nbefore = common.conf\n[Definition]\nfailregex = ^%(nosuch)s from <HOST>$\n' });
    let err: unknown;
    try {
      loadConfiguration(withJail(f2b));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain(`${f2b}/filter.d/demo.conf:4`);
  });
});
