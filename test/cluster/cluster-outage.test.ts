import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/build.js';
import { FailureSender, nodeConf, readPushes } from '../helpers/cluster-nodes.js';
import { NetnsFleet } from '../helpers/netns-fleet.js';
import { TestPostgres, missingPostgres } from '../helpers/postgres.js';
import { missing } from '../helpers/requirements.js';
import { cli, removeConfDir, ServiceProcess } from '../helpers/service-process.js';
import { sleep, waitFor } from '../helpers/wait.js';

// Ports 15960-15969; namespaces fbfco1..2 on 198.18.33.0/24.
const PORTS = { a: 15961, b: 15962 } as const;
type Name = keyof typeof PORTS;

const skip = missingPostgres('cluster outage') ?? missing('cluster outage', { root: true, commands: ['ip', '/usr/sbin/sshd', 'ssh'] });

interface ClusterJson {
  degraded: boolean;
  standalone: boolean;
  role: string;
}

describe.skipIf(skip)('a long outage of PostgreSQL: each node protects its own senders, then the bans merge', () => {
  let db: TestPostgres;
  let fleet: NetnsFleet;
  let pushDir: string;
  const sender = new FailureSender();
  const confs: Partial<Record<Name, string>> = {};
  const nodes: Partial<Record<Name, ServiceProcess>> = {};

  async function start(name: Name): Promise<ServiceProcess> {
    // lease 2 s; a node alone after 4 s without the database.
    confs[name] ??= nodeConf({ name, udp: PORTS[name], url: db.url, leaseS: 2, fleet, pushDir, state: ['standalone_after = 4'] });
    nodes[name] = await ServiceProcess.start(confs[name]!);
    return nodes[name]!;
  }

  const leader = async (): Promise<string> => (await db.query<{ node: string }>('SELECT node FROM leader WHERE lease_until > now()'))[0]?.node ?? '';

  function cluster(name: Name): ClusterJson | string {
    const r = cli(confs[name]!, 'status', '--json');
    if (r.code !== 0) return r.stderr;
    return (JSON.parse(r.stdout) as { cluster: ClusterJson }).cluster;
  }

  /** Bans commands each host ran for `ip` (by any node). */
  const pushesOf = (ip: string, host: string) => readPushes(pushDir, [host]).filter((p) => p.ip === ip);

  const onEveryHost = (ips: string[]): true | string => {
    for (const h of fleet.hosts) {
      const routes = fleet.routes(h);
      const lacking = ips.filter((ip) => !routes.includes(ip));
      if (lacking.length) return `${h.name} lacks ${lacking.join(' ')}`;
    }
    return true;
  };

  beforeAll(async () => {
    ensureBuilt();
    pushDir = mkdtempSync(join(tmpdir(), 'fbco-push-'));
    db = await TestPostgres.start();
    fleet = await NetnsFleet.create({ tag: 'co', block: 33, count: 2 });
    await start('a');
    await waitFor('a to lead', async () => (await leader()) === 'a', 30_000);
    await waitFor('a connected to both hosts', () => {
      const r = cli(confs.a!, 'hosts', '--json');
      return r.code === 0 && (JSON.parse(r.stdout) as { connected: boolean }[]).every((h) => h.connected);
    }, 30_000);
    await start('b');
    // Warm the filters of both nodes (a cold regex can hit its time limit on a busy machine).
    let n = 0;
    await waitFor(
      'the filters at both nodes',
      async () => {
        n++;
        await sender.send(PORTS.a, `198.51.100.${n}`);
        await sender.send(PORTS.b, `198.51.100.${100 + n}`);
        const r = await db.query<{ node: string }>('SELECT DISTINCT node FROM failures');
        return r.length === 2 || `nodes with failures: ${r.map((x) => x.node).join(',')}`;
      },
      30_000,
      500,
    );
  }, 180_000);

  afterAll(async () => {
    sender.close();
    for (const n of Object.values(nodes)) await n?.stop('SIGKILL');
    await fleet?.destroy();
    db?.destroy();
    for (const c of Object.values(confs)) removeConfDir(c);
    if (pushDir) rmSync(pushDir, { recursive: true, force: true });
  });

  it('bans at each node alone while pg_ctl has stopped the database, and hands the bans over without doubling one', async () => {
    const onlyB = '203.0.113.51';
    const onlyA = '203.0.113.52';
    const both = '203.0.113.53';
    db.stopNow();
    await sender.send(PORTS.b, onlyB);
    await sender.send(PORTS.a, onlyA);
    await sender.send(PORTS.a, both);
    await sender.send(PORTS.b, both);

    // After standalone_after, the follower stands alone and says so; both push what they decided.
    await waitFor('b standing alone', () => {
      const c = cluster('b');
      return (typeof c === 'object' && c.standalone && c.degraded) || JSON.stringify(c);
    }, 30_000, 250);
    await waitFor('every ban on every host', () => onEveryHost([onlyB, onlyA, both]), 30_000, 200);
    for (const h of ['mx1', 'mx2']) {
      expect(pushesOf(onlyB, h).map((p) => p.node)).toEqual(['b']);
      expect(pushesOf(onlyA, h).map((p) => p.node)).toEqual(['a']);
    }
    const apart = Object.fromEntries(['mx1', 'mx2'].map((h) => [h, pushesOf(both, h).length]));

    db.start();
    // b hands its bans to the leader and starts again as a follower (exit 75, for its service manager).
    expect(await nodes.b!.stop('SIGCONT')).toBe(75);
    expect(nodes.b!.logged('bans decided alone handed to the cluster')).toHaveLength(1);
    await start('b');
    await waitFor('a healthy again', () => {
      const c = cluster('a');
      return (typeof c === 'object' && !c.degraded && !c.standalone && c.role === 'leader') || JSON.stringify(c);
    }, 30_000, 250);

    // One ban row each, applied on both hosts, in PostgreSQL.
    await waitFor('the merged ledger', async () => {
      const r = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ledger WHERE ip = ANY($1) AND want = 'ban' AND status = 'applied'`,
        [[onlyB, onlyA, both]],
      );
      return r[0]!.n === 6 || `${r[0]!.n} applied`;
    }, 30_000, 250);
    expect(await db.query(`SELECT ip, count(*)::int AS n FROM bans WHERE ip = ANY($1) GROUP BY ip ORDER BY ip`, [[onlyB, onlyA, both]])).toEqual([
      { ip: onlyB, n: 1 },
      { ip: onlyA, n: 1 },
      { ip: both, n: 1 },
    ]);
    // The leader holds b's ban as applied on both hosts, and sent it to neither again.
    const banned = JSON.parse(cli(confs.a!, 'banned', '--json').stdout) as { ip: string; hosts: Record<string, string> }[];
    expect(banned.find((b) => b.ip === onlyB)?.hosts).toEqual({ mx1: 'applied', mx2: 'applied' });
    await sleep(1000);
    for (const h of ['mx1', 'mx2']) {
      expect(pushesOf(onlyB, h)).toHaveLength(1);
      expect(pushesOf(onlyA, h)).toHaveLength(1);
      // Decided at both nodes while they were apart: once by each at most, and not again after the merge.
      expect(apart[h]).toBeLessThanOrEqual(2);
      expect(pushesOf(both, h)).toHaveLength(apart[h]!);
    }

    // The leader now owns b's ban: lifting it there takes it off every host.
    expect(cli(confs.a!, 'unban', onlyB).code).toBe(0);
    await waitFor('the route gone', () => fleet.hosts.every((h) => !fleet.routes(h).includes(onlyB)), 15_000, 200);
  }, 180_000);
});
