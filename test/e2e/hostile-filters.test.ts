import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, removeConfDir, ServiceProcess, testConfDir } from '../helpers/service-process.js';
import { hasCommand } from '../helpers/requirements.js';
import { waitFor } from '../helpers/wait.js';

// Ports of this suite: 15720-15729.
const PORT = 15721;
const METRICS = 15722;

/** A vchkpw line as a mail server's logger sends it (tag vpopmail, with its pid). */
function vchkpw(message: string, transport: '--udp' | '--tcp' = '--udp'): void {
  execFileSync('logger', [
    transport, '--server', '127.0.0.1', '--port', String(PORT), '--rfc3164', '-t', 'vpopmail', '-i',
    ...(transport === '--tcp' ? ['--octet-count', '--size', '65000'] : []),
    message,
  ]);
}

interface FilterLossesJson {
  jail: string;
  filter: string;
  ambiguous: number;
  tooLong: number;
  tooSlow: number;
  retried: number;
}

function losses(conf: string, jail: string): FilterLossesJson {
  const r = cli(conf, 'status', '--json');
  expect(r.code, r.stderr).toBe(0);
  const all = (JSON.parse(r.stdout) as { filters: FilterLossesJson[] }).filters;
  return all.find((f) => f.jail === jail)!;
}

function bannedIps(conf: string): string[] {
  return (JSON.parse(cli(conf, 'banned', '--json').stdout) as { ip: string }[]).map((b) => b.ip);
}

describe.skipIf(!hasCommand('logger'))('fleetban run on the vpopmail lines of issue 10', () => {
  let conf: string;
  let svc: ServiceProcess;

  beforeAll(async () => {
    conf = testConfDir({
      udp: PORT,
      tcp: PORT,
      metrics: METRICS,
      files: { 'jail.local': '[vpopmail]\nmaxretry = 3\nipv6_prefix = 64\n' },
    });
    svc = await ServiceProcess.start(conf);
  });
  afterAll(async () => {
    await svc?.stop('SIGKILL');
    removeConfDir(conf);
  });

  it('bans the client vchkpw wrote, never the address or /64 written into the login; the ambiguous lines are counted and logged once', async () => {
    for (let i = 0; i < 3; i++) {
      vchkpw('vchkpw-pop3: password fail x:2001:db8:2a01:4f8::1');
      vchkpw('vchkpw-pop3: invalid user/domain characters x@zz:2001:db8:beef:2:2a01:4f8::1');
    }
    await waitFor('three ambiguous lines counted', () => losses(conf, 'vpopmail').ambiguous === 3 || JSON.stringify(losses(conf, 'vpopmail')));
    // What vchkpw writes for a client at 2a01:4f8::1 after the same login: its address with '_' for ':'.
    for (let i = 0; i < 3; i++) vchkpw('vchkpw-pop3: invalid user/domain characters x@zz:2001:db8:beef:2:2a01_4f8__1');
    await waitFor('the client banned', () => bannedIps(conf).some((ip) => ip.startsWith('2a01:4f8:')) || bannedIps(conf).join(' '));
    const ips = bannedIps(conf);
    expect(ips.filter((ip) => ip.startsWith('2001:db8'))).toEqual([]);
    expect(ips).toContain('2a01:4f8::/64');
    const ambiguousLogged = () => svc.lines.filter((l) => String(l.msg).startsWith('ambiguous address') && l.jail === 'vpopmail');
    await waitFor('the ambiguous line logged', () => ambiguousLogged().length > 0);
    // Logged once for the address, not once per line.
    expect(ambiguousLogged()).toHaveLength(1);
    expect(ambiguousLogged()[0]!.candidates).toContain('2001:db8:beef:2:2a01:4f8:0:1');
  });

  it('counts and logs a line longer than the filter limit but within maxframe, and shows every kind of loss in /metrics', async () => {
    vchkpw(`vchkpw-pop3: null password given ${'x'.repeat(40_000)}:203.0.113.77`, '--tcp');
    await waitFor('the long line counted', () => losses(conf, 'vpopmail').tooLong === 1 || JSON.stringify(losses(conf, 'vpopmail')));
    await waitFor('the long line logged', () => svc.lines.some((l) => String(l.msg).startsWith('line longer than the filter limit') && l.jail === 'vpopmail'));
    const text = await (await fetch(`http://127.0.0.1:${METRICS}/metrics`)).text();
    const series = (reason: string) => `fleetban_filter_lines_lost_total{jail="vpopmail",filter="vpopmail",reason="${reason}"}`;
    expect(text).toContain(`${series('ambiguous')} 3`);
    expect(text).toContain(`${series('too-long')} 1`);
    expect(text).toContain(`${series('too-slow')} 0`);
    expect(text).toContain('fleetban_filter_lines_retried_total{jail="vpopmail",filter="vpopmail"} 0');
    // The human status has them too.
    expect(cli(conf, 'status').stdout).toMatch(/ambiguous/i);
  });
});
