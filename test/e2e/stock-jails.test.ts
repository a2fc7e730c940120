import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsFleet } from '../helpers/netns-fleet.js';
import { missing } from '../helpers/requirements.js';
import { cli, removeConfDir, ServiceProcess, testConfDir } from '../helpers/service-process.js';
import { waitFor } from '../helpers/wait.js';

// Ports of this suite: 15740-15749; namespaces fbfsj1..2 on 198.18.41.0/24.
const PORT = 15741;
const METRICS = 15742;

/** A line as the daemon's syslog() writes it: `-t sshd --id=PID` gives `sshd[PID]: ...`. */
function log(tag: string, pid: number, message: string): void {
  execFileSync('logger', ['--udp', '--server', '127.0.0.1', '--port', String(PORT), '--rfc3164', '-t', tag, `--id=${pid}`, message]);
}

interface JailStatusJson {
  jail: string;
  filter: string;
  totalFailed: number;
  linesLost?: { hostName: number; ambiguous: number };
  bannedIps: string[];
}

function jailStatus(conf: string, jail: string): JailStatusJson {
  const r = cli(conf, 'status', jail, '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as JailStatusJson;
}

function bans(conf: string): { jail: string; ip: string; hosts: Record<string, string> }[] {
  return JSON.parse(cli(conf, 'banned', '--json').stdout) as { jail: string; ip: string; hosts: Record<string, string> }[];
}

/**
 * The sshd and postfix-sasl jails that conf/jail.conf ships (off), turned on
 * in jail.local as an administrator would, with fail2ban's own filters from
 * the installed package (/etc/fail2ban/filter.d, found through
 * filter_fallback), fed by logger lines shaped as OpenSSH and postfix's smtpd
 * write them, banning with the route action on two namespace hosts.
 */
describe.skipIf(
  missing('stock sshd and postfix-sasl jails end to end', {
    root: true,
    commands: ['ip', '/usr/sbin/sshd', 'ssh', 'logger', '/etc/fail2ban/filter.d/sshd.conf', '/etc/fail2ban/filter.d/postfix.conf'],
  }),
)('the stock sshd and postfix-sasl jails with fail2ban\'s filters, end to end', () => {
  let fleet: NetnsFleet;
  let conf: string;
  let svc: ServiceProcess;

  beforeAll(async () => {
    fleet = await NetnsFleet.create({ tag: 'sj', block: 41, count: 2 });
    const hosts = fleet.fleetConf();
    conf = testConfDir({
      udp: PORT,
      metrics: METRICS,
      files: {
        'fleet.conf': hosts,
        'jail.local': [
          '[DEFAULT]',
          'banaction = route',
          'maxretry = 3',
          '[sshd]',
          'enabled = true',
          '[postfix-sasl]',
          'enabled = true',
          '',
        ].join('\n'),
      },
    });
    svc = await ServiceProcess.start(conf);
    await waitFor('both hosts connected', () => {
      const r = cli(conf, 'hosts', '--json');
      return r.code === 0 && (JSON.parse(r.stdout) as { connected: boolean }[]).filter((h) => h.connected).length === 2;
    });
  }, 120_000);

  afterAll(async () => {
    await svc?.stop('SIGKILL');
    await fleet?.destroy();
    if (conf) removeConfDir(conf);
  });

  it('check-config shows both jails reading the stock filter files', () => {
    const r = cli(conf, 'check-config');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`  filters:  ${conf}/filter.d, /etc/fail2ban/filter.d\n`);
    expect(r.stdout).toMatch(/\[sshd\]\n\s+filter:\s+sshd\[mode=normal\] .*\/etc\/fail2ban\/filter\.d\/common\.conf, \/etc\/fail2ban\/filter\.d\/sshd\.conf/);
    expect(r.stdout).toMatch(/\[postfix-sasl\]\n\s+filter:\s+postfix\[mode=auth\] .*\/etc\/fail2ban\/filter\.d\/postfix\.conf/);
  });

  it('bans an SSH password guesser on every host; a successful key login is no failure', async () => {
    // An administrator logging in, more often than maxretry: never a failure, never a ban.
    for (let i = 0; i < 4; i++) log('sshd', 2100 + i, `Accepted publickey for root from 198.51.100.9 port ${50100 + i} ssh2: ED25519 SHA256:Zm9vYmFy`);
    for (let i = 0; i < 3; i++) log('sshd', 2200 + i, `Failed password for invalid user admin from 203.0.113.7 port ${4242 + i} ssh2`);

    await waitFor('the route on both hosts', () => fleet.hosts.every((h) => fleet.routes(h).includes('203.0.113.7')), 15_000);
    const ban = bans(conf).find((b) => b.ip === '203.0.113.7');
    expect(ban?.jail).toBe('sshd');
    const s = jailStatus(conf, 'sshd');
    expect(s.filter).toBe('sshd');
    expect(s.bannedIps).toEqual(['203.0.113.7']);
    // The three guesses, and nothing from the accepted logins.
    expect(s.totalFailed).toBe(3);
    expect(bans(conf).some((b) => b.ip === '198.51.100.9')).toBe(false);
    expect(fleet.hosts.some((h) => fleet.routes(h).includes('198.51.100.9'))).toBe(false);
  });

  it('bans an SMTP AUTH guesser from postfix smtpd lines on every host', async () => {
    for (let i = 0; i < 3; i++) log('postfix/smtpd', 3100 + i, 'warning: unknown[203.0.113.8]: SASL LOGIN authentication failed: UGFzc3dvcmQ6');
    await waitFor('the route on both hosts', () => fleet.hosts.every((h) => fleet.routes(h).includes('203.0.113.8')), 15_000);
    expect(bans(conf).find((b) => b.ip === '203.0.113.8')?.jail).toBe('postfix-sasl');
    await waitFor('both hosts acknowledged', () => {
      const b = bans(conf).find((x) => x.ip === '203.0.113.8');
      return !!b && Object.values(b.hosts).length === 2 && Object.values(b.hosts).every((st) => st === 'applied');
    });
    expect(jailStatus(conf, 'postfix-sasl').totalFailed).toBe(3);
  });

  it('a host name where the address should be bans nobody and is counted for the jail in status and /metrics', async () => {
    // sshd with UseDNS yes logs the client's reverse name, which its owner chooses.
    for (let i = 0; i < 4; i++) log('sshd', 2300 + i, `Failed password for root from mail.example.com port ${6000 + i} ssh2`);
    await waitFor('four host-name lines counted', () => jailStatus(conf, 'sshd').linesLost?.hostName === 4 || JSON.stringify(jailStatus(conf, 'sshd')));
    expect(jailStatus(conf, 'sshd')).toMatchObject({ totalFailed: 3, bannedIps: ['203.0.113.7'] });
    expect(jailStatus(conf, 'postfix-sasl').linesLost?.hostName).toBe(0);

    const human = cli(conf, 'status', 'sshd').stdout;
    expect(human).toMatch(/Lines lost\n(?:.*\n)*?.*Host name:\s+4/);
    const metrics = await (await fetch(`http://127.0.0.1:${METRICS}/metrics`)).text();
    expect(metrics).toContain('fleetban_filter_host_names_total{jail="sshd",filter="sshd"} 4');
    expect(metrics).toContain('fleetban_filter_host_names_total{jail="postfix-sasl",filter="postfix"} 0');
  });
});
