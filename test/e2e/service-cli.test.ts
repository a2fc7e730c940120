import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, cli, removeConfDir, ServiceProcess, testConfDir } from '../helpers/service-process.js';
import { waitFor } from '../helpers/wait.js';
import { hasCommand } from '../helpers/requirements.js';

// Ports of this suite: 15600-15609.
const PORT = 15601;
const METRICS = 15602;

/** A vchkpw failure as a mail server's logger would send it. */
function vchkpwFailure(ip: string, user = 'postmaster@example.com', pass = 'hunter2'): void {
  execFileSync('logger', [
    '--udp', '--server', '127.0.0.1', '--port', String(PORT), '--rfc3164', '-t', 'vpopmail', '-i',
    `vchkpw-pop3: password fail (pass: '${pass}') ${user}:${ip}`,
  ]);
}

interface BannedJson {
  jail: string;
  ip: string;
  since: string;
  until: string | null;
  count: number;
  hosts: Record<string, string>;
}

function banned(conf: string): BannedJson[] {
  const r = cli(conf, 'banned', '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as BannedJson[];
}

describe.skipIf(!hasCommand('logger'))('fleetban run, driven with logger and the CLI', () => {
  let conf: string;
  let svc: ServiceProcess;

  beforeAll(async () => {
    conf = testConfDir({ udp: PORT, tcp: PORT, metrics: METRICS });
    svc = await ServiceProcess.start(conf);
  });
  afterAll(async () => {
    await svc?.stop('SIGKILL');
    removeConfDir(conf);
  });

  it('bans an address after maxretry failures and shows it in banned and status', async () => {
    for (let i = 0; i < 5; i++) vchkpwFailure('203.0.113.50', `user${i}@example.com`, `secret-${i}`);
    await waitFor('the ban', () => banned(conf).some((b) => b.ip === '203.0.113.50'));
    const ban = banned(conf).find((b) => b.ip === '203.0.113.50')!;
    expect(ban.jail).toBe('vpopmail');
    expect(ban.count).toBe(1);
    expect(Date.parse(ban.until!) - Date.parse(ban.since)).toBe(3600_000);

    const status = JSON.parse(cli(conf, 'status', 'vpopmail', '--json').stdout) as { totalFailed: number; bannedIps: string[] };
    expect(status.totalFailed).toBe(5);
    expect(status.bannedIps).toContain('203.0.113.50');
    await waitFor('the Ban log line', () => svc.logged('Ban').some((l) => l.ip === '203.0.113.50' && l.jail === 'vpopmail'));
    // The shipped fleet is empty: the commands a real fleet would get are logged instead.
    await waitFor('the command it would push', () =>
      svc.logged('dry-run: would ban').some((l) => l.ip === '203.0.113.50' && l.command === 'ip route replace unreachable 203.0.113.50'),
    );
    // vchkpw logged the passwords; fleetban never writes them out.
    expect(JSON.stringify(svc.lines)).not.toMatch(/secret-\d/);
  });

  it('bans and unbans by hand with fail2ban-client exit codes', () => {
    expect(cli(conf, 'ban', 'courier-auth', '2001:DB8:0:0::77').code).toBe(0);
    expect(banned(conf).some((b) => b.jail === 'courier-auth' && b.ip === '2001:db8::77')).toBe(true);
    expect(cli(conf, 'unban', 'courier-auth', '2001:db8::77').code).toBe(0);
    expect(banned(conf).some((b) => b.ip === '2001:db8::77')).toBe(false);

    const again = cli(conf, 'unban', 'courier-auth', '2001:db8::77');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/not banned/);
    expect(cli(conf, 'ban', 'no-such-jail', '198.51.100.1').code).toBe(1);
    expect(cli(conf, 'status', 'no-such-jail').code).toBe(1);
    expect(cli(conf, 'ban', 'vpopmail', '127.0.0.1').code).toBe(1);
    expect(cli(conf, 'ban', 'vpopmail', '$(reboot)').code).toBe(2);
  });

  it('serves every metric, with values that move when failures arrive', async () => {
    const scrape = async () => (await fetch(`http://127.0.0.1:${METRICS}/metrics`)).text();
    const value = (text: string, series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line ? Number(line.slice(series.length + 1)) : 0;
    };
    const before = await scrape();
    for (const name of [
      'fleetban_messages_received_total',
      'fleetban_messages_parsed_total',
      'fleetban_messages_dropped_total',
      'fleetban_sender_messages_received_total',
      'fleetban_sender_messages_dropped_total',
      'fleetban_failures_total',
      'fleetban_bans_active',
      'fleetban_host_operations_total',
      'fleetban_host_connected',
      'fleetban_host_pending_operations',
      'fleetban_ban_delay_seconds',
      'fleetban_journal_restarts_total',
    ]) {
      expect(before, name).toContain(`# TYPE ${name} `);
    }
    const failures = 'fleetban_failures_total{jail="vpopmail",filter="vpopmail"}';
    const n = value(before, failures);
    vchkpwFailure('198.51.100.60');
    vchkpwFailure('198.51.100.61');
    const total = () => (JSON.parse(cli(conf, 'status', 'vpopmail', '--json').stdout) as { totalFailed: number }).totalFailed;
    await waitFor('failures counted', () => total() === 7);
    const after = await scrape();
    expect(value(after, failures)).toBe(n + 2);
    const fromLoopback = 'fleetban_sender_messages_received_total{sender="127.0.0.1"}';
    expect(value(after, fromLoopback)).toBe(value(before, fromLoopback) + 2);
    expect(value(after, `fleetban_messages_parsed_total{source="udp 127.0.0.1:${PORT}"}`)).toBeGreaterThanOrEqual(7);
    expect(value(after, 'fleetban_bans_active{jail="vpopmail"}')).toBeGreaterThanOrEqual(1);
  });

  it('refuses a reload of a broken configuration and keeps running', () => {
    writeFileSync(join(conf, 'jail.local'), '[vpopmail]\nmaxretry = many\n');
    const r = cli(conf, 'reload');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/jail\.local:2: \[vpopmail\] maxretry: /);
    writeFileSync(join(conf, 'jail.local'), '[vpopmail]\nmaxretry = 2\n');
    expect(cli(conf, 'reload').code).toBe(0);
    expect(JSON.parse(cli(conf, 'status', 'vpopmail', '--json').stdout).maxRetry).toBe(2);
    // Bans survive the reload.
    expect(banned(conf).some((b) => b.ip === '203.0.113.50')).toBe(true);
  });

  it('comes back after kill -9 with its bans and counted failures', async () => {
    vchkpwFailure('198.51.100.99');
    await waitFor('the failure', () => (JSON.parse(cli(conf, 'status', 'vpopmail', '--json').stdout) as { currentlyFailed: number }).currentlyFailed >= 3);
    await new Promise((r) => setTimeout(r, 1500)); // failures are written behind, once a second
    await svc.stop('SIGKILL');
    expect(cli(conf, 'status').code).toBe(1);
    svc = await ServiceProcess.start(conf);
    expect(banned(conf).some((b) => b.ip === '203.0.113.50')).toBe(true);
    // One more failure of 198.51.100.99 reaches maxretry = 2 only if the first one was kept.
    vchkpwFailure('198.51.100.99');
    await waitFor('the ban of a remembered address', () => banned(conf).some((b) => b.ip === '198.51.100.99'));
  });
});

describe('fleetban check-config', () => {
  it('accepts the shipped configuration and prints what it resolved', () => {
    const r = cli('conf', 'check-config');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\[vpopmail\]\n\s+filter:\s+vpopmail/);
    expect(r.stdout).toMatch(/configuration OK/);
  });

  it('names the file, line and key of a mistake and exits 2', () => {
    const conf = testConfDir({ files: { 'jail.local': '[courier-auth]\nenabled = true\nfindtime = soon\n' } });
    try {
      const r = cli(conf, 'check-config');
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${join(conf, 'jail.local')}:3: [courier-auth] findtime:`);
    } finally {
      removeConfDir(conf);
    }
  });
});

describe('fleetban regex in a pipeline', () => {
  it('exits quietly when its reader stops early (| head)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetban-pipe-'));
    try {
      // Enough hits that the report outlives the pipe's buffer.
      const log = join(dir, 'big.log');
      writeFileSync(log, 'login failed from 203.0.113.1\n'.repeat(100_000));
      const r = spawnSync('sh', ['-c', `"${process.execPath}" "${CLI}" -c conf regex "${log}" 'failed from <HOST>' --json | head -c 100`], { encoding: 'utf8' });
      expect(r.stdout).toMatch(/^\{"lines":100000,"matched":100000,/);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
