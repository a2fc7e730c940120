import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/build.js';
import { NetnsFleet } from '../helpers/netns-fleet.js';
import { TestPostgres, missingPostgres } from '../helpers/postgres.js';
import { missing } from '../helpers/requirements.js';
import { cli, removeConfDir, ServiceProcess, testConfDir } from '../helpers/service-process.js';
import { sleep, waitFor } from '../helpers/wait.js';

// Ports 15940-15949; namespaces fbfcl1..2 on 198.18.30.0/24.
const PORTS = { a: 15941, b: 15942 } as const;
type Name = keyof typeof PORTS;

const skip =
  missingPostgres('cluster failover') ?? missing('cluster failover', { root: true, commands: ['ip', '/usr/sbin/sshd', 'ssh', 'logger'] });

describe.skipIf(skip)('a cluster of two nodes pushing to two mail servers', () => {
  let db: TestPostgres;
  let fleet: NetnsFleet;
  let pushDir: string;
  const confs: Partial<Record<Name, string>> = {};
  const nodes: Partial<Record<Name, ServiceProcess>> = {};
  const sock = createSocket('udp4');

  /** One Courier failure, as mx1 would send it; maxretry = 1 here, so each is a ban. */
  function failure(node: Name, ip: string): Promise<void> {
    const line = `<38>Dec  2 10:00:00 mx1 imapd[4001]: LOGIN FAILED, user=info@example.com, ip=[::ffff:${ip}], port=[4001]`;
    return new Promise((r) => sock.send(line, PORTS[node], '127.0.0.1', () => r()));
  }

  /** Every ban command each host ran, one line per command (the action appends to it). */
  function pushes(host: string): string[] {
    try {
      return readFileSync(join(pushDir, `push-${host}.log`), 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  }

  async function start(name: Name): Promise<ServiceProcess> {
    const hosts = fleet.fleetConf();
    confs[name] ??= testConfDir({
      udp: PORTS[name],
      files: {
        'fleetban.d/cluster.conf': ['[state]', 'backend = postgresql', `url = ${db.url}`, `node = ${name}`, 'lease = 2', ''].join('\n'),
        'fleet.conf': hosts,
        // The route action, writing down each command it runs on the host, one at a time.
        'action.d/pushlog.conf': [
          '[INCLUDES]',
          'before = route.conf',
          '[Definition]',
          `actionban = echo "ban <ip>" >> ${pushDir}/push-$(hostname).log; <iproute> route replace <blocktype> <ip>`,
          `actionunban = echo "unban <ip>" >> ${pushDir}/push-$(hostname).log; <iproute> route del <blocktype> <ip> 2>/dev/null || true`,
          'actionban_batch =',
          'actionban_batchline =',
          'actionunban_batch =',
          'actionunban_batchline =',
          '',
        ].join('\n'),
        'jail.local': '[DEFAULT]\nbanaction = pushlog\nbantime = 20\nbantime.increment = false\n[courier-auth]\nmaxretry = 1\n',
      },
    });
    nodes[name] = await ServiceProcess.start(confs[name]!);
    return nodes[name]!;
  }

  async function leader(): Promise<string> {
    const r = await db.query<{ node: string }>('SELECT node FROM leader WHERE lease_until > now()');
    return r[0]?.node ?? '';
  }

  async function connected(name: Name): Promise<void> {
    await waitFor(`${name} connected to both hosts`, () => {
      const r = cli(confs[name]!, 'hosts', '--json');
      return r.code === 0 && (JSON.parse(r.stdout) as { connected: boolean }[]).filter((h) => h.connected).length === 2;
    });
  }

  /** Each address has exactly one route and was pushed exactly once to every host. */
  function everywhereOnce(ips: string[]): true | string {
    for (const h of fleet.hosts) {
      const routes = fleet.routes(h);
      const missingIps = ips.filter((ip) => !routes.includes(ip));
      if (missingIps.length) return `${h.name} lacks ${missingIps.join(' ')}`;
    }
    return true;
  }

  beforeAll(async () => {
    ensureBuilt();
    pushDir = mkdtempSync(join(tmpdir(), 'fbcl-push-'));
    db = await TestPostgres.start();
    fleet = await NetnsFleet.create({ tag: 'cl', block: 30, count: 2 });
    await start('a');
    await waitFor('a to lead', async () => (await leader()) === 'a');
    await connected('a');
    await start('b');
    // Warm the filters: a cold regex can hit their time limit on a busy machine.
    let n = 0;
    await waitFor(
      'the filters at both nodes',
      async () => {
        n++;
        await failure('a', `198.51.100.${n}`);
        await failure('b', `198.51.100.${100 + n}`);
        const r = await db.query<{ node: string }>('SELECT DISTINCT node FROM failures');
        return r.length === 2 || `nodes with failures: ${r.map((x) => x.node).join(',')}`;
      },
      30_000,
      500,
    );
  }, 180_000);

  afterAll(async () => {
    sock.close();
    for (const n of Object.values(nodes)) {
      try {
        process.kill(n.child.pid!, 'SIGCONT');
      } catch {
        // gone
      }
      await n.stop('SIGKILL');
    }
    await fleet?.destroy();
    db?.destroy();
    for (const c of Object.values(confs)) removeConfDir(c);
    if (pushDir) rmSync(pushDir, { recursive: true, force: true });
  });

  it('applies a burst of bans on every host when the leader is killed in the middle, none lost, none twice', async () => {
    const ips = Array.from({ length: 30 }, (_, i) => `203.0.113.${i + 1}`);
    for (const ip of ips.slice(0, 15)) await failure('b', ip);
    await waitFor('the first bans pushed', () => pushes('mx1').length > 0, 15_000);
    await nodes.a!.stop('SIGKILL');
    for (const ip of ips.slice(15)) await failure('b', ip);
    await waitFor('b to lead', async () => (await leader()) === 'b', 15_000);
    await waitFor('every ban on every host', () => everywhereOnce(ips), 30_000, 200);
    // One ban row each, acknowledged by both hosts, in PostgreSQL's ledger.
    const rows = await db.query<{ ip: string; n: number }>(
      `SELECT b.ip, count(l.host)::int AS n FROM bans b LEFT JOIN ledger l ON l.jail = b.jail AND l.ip = b.ip AND l.status = 'applied' AND l.want = 'ban'
        WHERE b.ip LIKE '203.0.113.%' GROUP BY b.ip`,
    );
    await waitFor('the ledger', async () => {
      const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger WHERE ip LIKE '203.0.113.%' AND status = 'applied'`);
      return r[0]!.n === 60 || `${r[0]!.n} applied`;
    });
    expect(rows.length).toBe(30);
    // A ban the old leader sent and saw no answer to may be sent once more
    // (hosts take it as they do after a crash of a single central host); none
    // is sent more than that, and none of the bans not yet sent is doubled.
    for (const h of ['mx1', 'mx2']) {
      const seen = pushes(h).filter((l) => l.startsWith('ban 203.0.113.'));
      const counts = new Map<string, number>();
      for (const l of seen) counts.set(l, (counts.get(l) ?? 0) + 1);
      expect([...counts.values()].every((c) => c <= 2)).toBe(true);
      expect(counts.size).toBe(30);
    }
  });

  it('moves the lead away from a frozen leader, which pushes nothing when it resumes', async () => {
    await start('a');
    await connected('b');
    const b = nodes.b!;
    process.kill(b.child.pid!, 'SIGSTOP');
    await waitFor('a to lead', async () => (await leader()) === 'a', 15_000);
    await connected('a');
    await failure('a', '203.0.113.200');
    await waitFor('the new leader pushed', () => everywhereOnce(['203.0.113.200']), 15_000);
    process.kill(b.child.pid!, 'SIGCONT');
    // It learns that it lost the lease, pushes nothing, and exits for its service manager to restart it.
    expect(await b.stop('SIGCONT')).toBe(75);
    expect(b.logged('lost the leadership: pushing nothing more').length).toBe(1);
    await sleep(1000);
    for (const h of ['mx1', 'mx2']) expect(pushes(h).filter((l) => l === 'ban 203.0.113.200')).toHaveLength(1);
  });

  it('keeps receiving and deciding across a restart of PostgreSQL', async () => {
    await start('b');
    const ips = Array.from({ length: 10 }, (_, i) => `198.51.100.${150 + i}`);
    for (const ip of ips.slice(0, 5)) await failure('b', ip);
    db.restart();
    for (const ip of ips.slice(5)) await failure('b', ip);
    await waitFor('every ban on every host', () => everywhereOnce(ips), 30_000, 200);
    expect(nodes.a!.child.exitCode, nodes.a!.lines.slice(-8).map((l) => JSON.stringify(l)).join('\n')).toBeNull();
    expect(nodes.b!.child.exitCode).toBeNull();
    await waitFor('both healthy again', () => {
      const s = JSON.parse(cli(confs.b!, 'status', '--json').stdout) as { cluster: { degraded: boolean } };
      return !s.cluster.degraded;
    });
    expect(await db.query('SELECT count(*)::int AS n FROM bans WHERE ip = ANY($1)', [ips])).toEqual([{ n: 10 }]);
  });

  it('lifts the bans everywhere when they end, after the failover', async () => {
    // bantime 20 s: the first burst, decided by a before it was killed, ends at a.
    await waitFor('the routes gone', () => fleet.hosts.every((h) => !fleet.routes(h).includes('203.0.113.1')), 40_000, 500);
    expect(await db.query(`SELECT count(*)::int AS n FROM bans WHERE ip = '203.0.113.1'`)).toEqual([{ n: 0 }]);
  });
});
