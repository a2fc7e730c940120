import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/build.js';
import { TestPostgres, missingPostgres } from '../helpers/postgres.js';
import { hasCommand } from '../helpers/requirements.js';
import { cli, removeConfDir, ServiceProcess, testConfDir } from '../helpers/service-process.js';
import { sleep, waitFor } from '../helpers/wait.js';

// Ports of this suite: 15930-15939.
const PORTS = { a: 15931, b: 15932, c: 15933 };

const skip = missingPostgres('cluster nodes') ?? (hasCommand('logger') ? undefined : 'needs logger');

/** A vchkpw failure sent to one node, as a mail server's rsyslog would. */
function failure(port: number, ip: string, i = 0): void {
  execFileSync('logger', [
    '--udp', '--server', '127.0.0.1', '--port', String(port), '--rfc3164', '-t', 'vpopmail', '-i',
    `vchkpw-pop3: password fail (pass: 'pw${i}') user${i}@example.com:${ip}`,
  ]);
}

interface BannedJson {
  jail: string;
  ip: string;
  count: number;
}

function banned(conf: string): BannedJson[] {
  const r = cli(conf, 'banned', '--json');
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as BannedJson[];
}

describe.skipIf(skip)('fleetban nodes sharing one PostgreSQL', () => {
  let db: TestPostgres;
  const confs: Record<string, string> = {};
  const nodes: Record<string, ServiceProcess> = {};

  function nodeConf(name: keyof typeof PORTS): string {
    return testConfDir({
      udp: PORTS[name],
      files: {
        'fleetban.d/cluster.conf': ['[state]', 'backend = postgresql', `url = ${db.url}`, `node = ${name}`, 'lease = 2', ''].join('\n'),
        // A short ban, to see it end after a failover.
        'jail.d/short.local': ['[vpopmail]', 'bantime = 30', 'maxretry = 5', ''].join('\n'),
      },
    });
  }

  async function start(name: keyof typeof PORTS): Promise<ServiceProcess> {
    confs[name] ??= nodeConf(name);
    nodes[name] = await ServiceProcess.start(confs[name]!);
    return nodes[name]!;
  }

  async function leader(): Promise<string> {
    const r = await db.query<{ node: string }>('SELECT node FROM leader WHERE lease_until > now()');
    return r[0]?.node ?? '';
  }

  beforeAll(async () => {
    ensureBuilt();
    db = await TestPostgres.start();
    await start('a');
    await waitFor('node a to lead', async () => (await leader()) === 'a');
    await start('b');
    // First lines warm each node's filters: on a busy machine a cold regex can
    // hit the filters' time limit, and that line is counted as missed.
    let n = 0;
    await waitFor(
      'warm-up lines counted at both nodes',
      () => {
        n++;
        failure(PORTS.a, `198.51.100.${100 + n}`);
        failure(PORTS.b, `198.51.100.${200 + n}`);
        const list = JSON.parse(cli(confs.a!, 'status', 'vpopmail', '--json').stdout) as { totalFailed: number };
        return list.totalFailed >= 4 || `totalFailed ${list.totalFailed}`;
      },
      30_000,
      500,
    );
  });
  afterAll(async () => {
    for (const n of Object.values(nodes)) await n.stop('SIGKILL');
    for (const c of Object.values(confs)) removeConfDir(c);
    db?.destroy();
  });

  it('counts failures across nodes: 3 at node a and 2 at node b with maxretry 5 make one ban', async () => {
    const ip = '203.0.113.10';
    for (let i = 0; i < 3; i++) failure(PORTS.a, ip, i);
    for (let i = 3; i < 5; i++) failure(PORTS.b, ip, i);
    await waitFor('the ban', () => banned(confs.a!).some((b) => b.ip === ip) );
    // Any node shows the whole cluster's bans.
    await waitFor('the ban seen from node b', () => banned(confs.b!).some((b) => b.ip === ip && b.jail === 'vpopmail'));
    expect(await db.query('SELECT jail, ip, failures FROM bans WHERE ip = $1', [ip])).toEqual([{ jail: 'vpopmail', ip, failures: 5 }]);
    // Four failures split the same way are no ban.
    for (let i = 0; i < 2; i++) failure(PORTS.a, '203.0.113.11', i);
    for (let i = 2; i < 4; i++) failure(PORTS.b, '203.0.113.11', i);
    await waitFor('four failures written by both nodes', async () => {
      const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM failures, json_array_elements(events) e WHERE e->>1 = '203.0.113.11'`);
      return r[0]!.n >= 4 || `${r[0]!.n} written`;
    });
    await sleep(1000);
    expect(banned(confs.a!).some((b) => b.ip === '203.0.113.11')).toBe(false);
    // The passwords of the lines never reach the database.
    const rows = await db.query<{ events: unknown }>('SELECT events FROM failures');
    expect(JSON.stringify(rows)).not.toMatch(/pw\d/);
  });

  it('makes one ban when both nodes cross maxretry at the same moment', async () => {
    const ip = '203.0.113.12';
    for (let i = 0; i < 4; i++) failure(PORTS.a, ip, i);
    for (let i = 0; i < 4; i++) failure(PORTS.b, ip, i);
    await waitFor('the ban', () => banned(confs.a!).some((b) => b.ip === ip));
    expect(await db.query('SELECT count(*)::int AS n FROM bans WHERE ip = $1', [ip])).toEqual([{ n: 1 }]);
    expect(nodes.a!.logged('Ban').filter((l) => l.ip === ip)).toHaveLength(1);
    expect(nodes.b!.logged('Ban').filter((l) => l.ip === ip)).toHaveLength(0);
  });

  it('bans and unbans by hand from a follower; nodes shows both', async () => {
    expect(cli(confs.b!, 'ban', 'courier-auth', '198.51.100.7').code).toBe(0);
    expect(banned(confs.a!).some((b) => b.ip === '198.51.100.7')).toBe(true);
    expect(cli(confs.b!, 'unban', 'courier-auth', '198.51.100.7').code).toBe(0);
    expect(banned(confs.a!).some((b) => b.ip === '198.51.100.7')).toBe(false);
    const again = cli(confs.b!, 'unban', 'courier-auth', '198.51.100.7');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/not banned/);
    const list = JSON.parse(cli(confs.b!, 'nodes', '--json').stdout) as { name: string; role: string; lastSeen: string }[];
    expect(list.map((n) => [n.name, n.role])).toEqual([
      ['a', 'leader'],
      ['b', 'follower'],
    ]);
    expect(Number.isNaN(Date.parse(list[0]!.lastSeen))).toBe(false);
    const status = JSON.parse(cli(confs.b!, 'status', '--json').stdout) as { cluster: { role: string; leader: string; degraded: boolean } };
    expect(status.cluster).toMatchObject({ role: 'follower', leader: 'a', degraded: false });
  });

  it('moves the lead to another node when the leader is killed, which lifts the bans when they end', async () => {
    const ip = '203.0.113.13';
    for (let i = 0; i < 5; i++) failure(PORTS.a, ip, i);
    await waitFor('the ban', () => banned(confs.a!).some((b) => b.ip === ip));
    await nodes.a!.stop('SIGKILL');
    await waitFor('node b to lead', async () => (await leader()) === 'b', 15_000);
    expect(banned(confs.b!).some((b) => b.ip === ip)).toBe(true);
    // Failures keep counting at the new leader, with those a saw before.
    for (let i = 0; i < 5; i++) failure(PORTS.b, '203.0.113.14', i);
    await waitFor('a ban by the new leader', () => banned(confs.b!).some((b) => b.ip === '203.0.113.14'));
    // bantime 30 s: the ban a decided ends at b.
    await waitFor('the ban to end', () => !banned(confs.b!).some((b) => b.ip === ip), 40_000, 250);
    // The leader's engine lifts the ban in its local state first and copies the
    // change to PostgreSQL in its next fenced transaction, before it tells the
    // fleet: the row goes a moment after the ban left `banned`.
    await waitFor('the ban row to leave PostgreSQL', async () => {
      const r = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM bans WHERE ip = $1', [ip]);
      return r[0]!.n === 0 || `${r[0]!.n} row(s) left`;
    });
    expect(nodes.b!.logged('Unban').some((l) => l.ip === ip && l.reason === 'expired')).toBe(true);
  });
});
