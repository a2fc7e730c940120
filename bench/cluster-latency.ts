/**
 * Ban latency through the cluster: a failure sent to a follower (a node
 * that does not lead) until the ban is in force on every host, beside the
 * same failure sent to a single node on SQLite, in the same run, on the
 * same namespace hosts, at 1, 5 and 20 hosts.
 *
 * Each ban is measured alone (one failure, maxretry = 1, then wait). The
 * start is the moment the syslog datagram is sent; the end is the latest
 * time stamp the hosts wrote beside the ban (the route action runs
 * `route replace` and then notes the host's clock), so both figures include
 * the receiver, the filter and the push. The cluster's path adds the
 * follower's batch (up to 10 ms), PostgreSQL (insert, NOTIFY), the
 * leader's read and count, and the fenced write before the push.
 *
 *   npx tsx bench/cluster-latency.ts [--bans 100] [--hosts 1,5,20]
 *
 * Needs root (namespaces, sshd) and PostgreSQL 15.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalIp } from '../src/net/address.js';
import { ensureBuilt } from '../test/helpers/build.js';
import { FailureSender, nodeConf, readPushes } from '../test/helpers/cluster-nodes.js';
import { NetnsFleet, sleep, waitFor } from '../test/helpers/netns-fleet.js';
import { TestPostgres } from '../test/helpers/postgres.js';
import { cli, removeConfDir, ServiceProcess } from '../test/helpers/service-process.js';
import { arg, helpOr } from './cluster-common.js';
import { fmt, percentile } from './fleet-common.js';
import { machineLoad } from './ratio-record.js';

helpOr(`
Failure at a follower -> ban in force on every host, beside a single SQLite node (issue 11).
  npx tsx bench/cluster-latency.ts [--bans 100] [--hosts 1,5,20]
    --bans N     bans measured per fleet size and setup (default 100, after 10 to warm up)
    --hosts L    fleet sizes (default 1,5,20)
Needs root and PostgreSQL 15; run under flock /tmp/fb-heavy.lock on a shared machine.`);

const BANS = Number(arg('bans', '100'));
const SIZES = arg('hosts', '1,5,20').split(',').map(Number);
const PORTS = { single: 15971, a: 15972, b: 15973 } as const;

ensureBuilt();
console.log(`cluster latency: ${BANS} bans per size, hosts ${SIZES.join(',')}, load ${machineLoad()}`);
const sender = new FailureSender();
const rows: string[] = [];
let serial = 0;

/** Send `count` failures to `port` one at a time; the latency of each, ms. */
async function measure(port: number, pushDir: string, hosts: string[], count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    serial++;
    const ip = canonicalIp(`2001:db8:c1a7::${serial.toString(16)}`)!;
    const t0 = Date.now();
    await sender.send(port, ip);
    let last = 0;
    await waitFor(
      `${ip} on every host`,
      () => {
        const mine = readPushes(pushDir, hosts).filter((p) => p.ip === ip);
        if (new Set(mine.map((p) => p.host)).size < hosts.length) return false;
        last = Math.max(...mine.map((p) => p.at));
        return true;
      },
      30_000,
      2,
    );
    out.push(last - t0);
  }
  return out.sort((x, y) => x - y);
}

const connected = (conf: string, n: number) =>
  waitFor('connected to every host', () => {
    const r = cli(conf, 'hosts', '--json');
    return r.code === 0 && (JSON.parse(r.stdout) as { connected: boolean }[]).filter((h) => h.connected).length === n;
  }, 120_000, 200);

for (const n of SIZES) {
  const fleet = await NetnsFleet.create({ tag: 'clt', block: 34, count: n });
  fleet.cleanupOnSignals();
  const hosts = fleet.hosts.map((h) => h.name);
  const pushDir = mkdtempSync(join(tmpdir(), 'fbclt-push-'));
  const db = await TestPostgres.start();
  const confs: string[] = [];
  const procs: ServiceProcess[] = [];
  try {
    // The peer: one node on SQLite.
    const single = nodeConf({ name: 'single', udp: PORTS.single, fleet, pushDir });
    confs.push(single);
    const s = await ServiceProcess.start(single);
    procs.push(s);
    await connected(single, n);
    await measure(PORTS.single, pushDir, hosts, 10);
    const alone = await measure(PORTS.single, pushDir, hosts, BANS);
    await s.stop();

    // The cluster: a leads, the failures go to b.
    const a = nodeConf({ name: 'a', udp: PORTS.a, url: db.url, fleet, pushDir });
    const b = nodeConf({ name: 'b', udp: PORTS.b, url: db.url, fleet, pushDir });
    confs.push(a, b);
    procs.push(await ServiceProcess.start(a));
    await waitFor('a to lead', async () => (await db.query<{ node: string }>('SELECT node FROM leader WHERE lease_until > now()'))[0]?.node === 'a', 30_000);
    await connected(a, n);
    procs.push(await ServiceProcess.start(b));
    await sleep(500);
    await measure(PORTS.b, pushDir, hosts, 10);
    const viaFollower = await measure(PORTS.b, pushDir, hosts, BANS);
    const p = (l: number[], q: number) => percentile(l, q);
    rows.push(
      `${String(n).padStart(2)} hosts | failure at a follower -> on every host p50 ${fmt(p(viaFollower, 50)).padStart(8)} p99 ${fmt(p(viaFollower, 99)).padStart(8)}` +
        ` | single node (SQLite) p50 ${fmt(p(alone, 50)).padStart(8)} p99 ${fmt(p(alone, 99)).padStart(8)}` +
        ` | cluster/single p50 ${(p(viaFollower, 50) / p(alone, 50)).toFixed(2)}x p99 ${(p(viaFollower, 99) / p(alone, 99)).toFixed(2)}x | ${BANS} bans each | load ${machineLoad()}`,
    );
    console.log(rows.at(-1));
  } finally {
    for (const proc of procs) await proc.stop('SIGKILL');
    await fleet.destroy();
    db.destroy();
    for (const c of confs) removeConfDir(c);
    rmSync(pushDir, { recursive: true, force: true });
  }
}
sender.close();
console.log('\nfailure sent (syslog datagram) -> ban in force on every host (the host notes its clock after route replace)');
for (const r of rows) console.log(r);
process.exit(0);
