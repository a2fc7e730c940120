/**
 * Failures per second counted across two cluster nodes through PostgreSQL,
 * beside the same workload on one node with SQLite (the peer), and one node
 * alone on PostgreSQL (every failure also written for the other nodes).
 *
 * Workload: N failures of N/5 distinct addresses (each address fails 5 times
 * with maxretry 6, so no ban), as the filters hand them over. Two nodes: node a
 * (the leader) sees half, node b (a follower) the other half; the figure is
 * from the first failure to the last one counted by the leader. Both nodes
 * run in this one process, on one core: the cluster figure is conservative.
 *
 * Goals (issue 11): at least 50,000 failures/s across two nodes; a single
 * node on PostgreSQL no slower than half of SQLite.
 *
 *   npx tsx bench/cluster-failures.ts [N]     (needs root and PostgreSQL 15)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ClusterNode } from '../src/cluster/cluster-node.js';
import { ConfigSet } from '../src/config/config-set.js';
import { jailsFrom } from '../src/config/jail-reader.js';
import { BanBook } from '../src/bans/ban-book.js';
import { JailManager } from '../src/jails/jail-manager.js';
import type { JailMatch } from '../src/jails/filter-match.js';
import type { LogEvent } from '../src/model/log-event.js';
import { CidrSet } from '../src/net/cidr-set.js';
import { SqliteStateStore } from '../src/state/sqlite-state-store.js';
import { TestPostgres } from '../test/helpers/postgres.js';

const N = Number(process.argv[2] ?? 200_000);
const JAILS = '[vpopmail]\nenabled = true\nmaxretry = 6\nfindtime = 10m\nbantime = 1h\nignoreself = false\n';
const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'fleetban-bench-cl-'));
const line = 'vchkpw-pop3: password fail (pass: ***) bob@example.com:203.0.113.1';
const fields = { user: 'bob@example.com' };
const address = (i: number) => `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Engine {
  state: SqliteStateStore;
  book: BanBook;
  jails: JailManager;
  total(): number;
}

function engine(name: string): Engine {
  const state = SqliteStateStore.open(join(dir, `${name}.sqlite`), { flushMs: 1000 });
  const book = new BanBook({ state, logger: log, timers: false });
  const jails = new JailManager({
    state,
    book,
    jails: jailsFrom(ConfigSet.fromString(JAILS, 'bench')),
    neverBan: new CidrSet(),
    logger: log,
    timers: false,
  });
  return { state, book, jails, total: () => (jails.status('vpopmail') as { totalFailed: number }).totalFailed };
}

function feed(count: (m: JailMatch, ev: LogEvent) => void, from: number, to: number): void {
  const now = Date.now();
  for (let i = from; i < to; i++) {
    const ev: LogEvent = { time: now, received: now, source: 'udp', origin: 'mx1', message: line, raw: line };
    count({ ip: address(i % (N / 5)), time: now, fields, line }, ev);
  }
}

async function feedSpread(count: (m: JailMatch, ev: LogEvent) => void, from: number, to: number): Promise<void> {
  // In slices, as datagrams arrive: the event loop gets to write batches meanwhile.
  for (let i = from; i < to; i += 5000) {
    feed(count, i, Math.min(to, i + 5000));
    await new Promise((r) => setImmediate(r));
  }
}

async function node(db: TestPostgres, name: string, e: Engine): Promise<ClusterNode> {
  const c = new ClusterNode({
    config: { url: db.url, node: name, leaseMs: 3000, standaloneMs: 0 },
    logger: log,
    onFenced: () => undefined,
    engine: {
      db: e.state.db,
      startEngine: async () => e.jails.start(),
      count: (jail, m, ev) => e.jails.onMatch(jail, m, ev),
      maxFindTimeMs: () => 600_000,
      reconcile: () => undefined,
      adopt: async (ban, history) => (await e.book.commit(ban, history)).created,
    },
  });
  await c.open();
  return c;
}

async function main(): Promise<void> {
  console.log(`fleetban cluster: ${N.toLocaleString('en')} failures of ${(N / 5).toLocaleString('en')} addresses, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  // Peer: one node, SQLite.
  const single = engine('single');
  single.jails.start();
  let t0 = performance.now();
  await feedSpread((m, ev) => single.jails.onMatch('vpopmail', m, ev), 0, N);
  single.state.flush();
  const sqliteS = (performance.now() - t0) / 1000;
  single.jails.stop();
  single.state.close();
  console.log(`  one node, SQLite:             ${Math.round(N / sqliteS).toLocaleString('en')} failures/s`);

  const db = await TestPostgres.start();
  try {
    // One node on PostgreSQL: it leads, counts, and writes every failure for the others.
    const soloE = engine('solo');
    const solo = await node(db, 'solo', soloE);
    while (!solo.isLeader) await sleep(20);
    t0 = performance.now();
    await feedSpread((m, ev) => solo.onMatch('vpopmail', m, ev), 0, N);
    await (solo as unknown as { outbox: { drained(): Promise<void> } }).outbox.drained();
    const soloS = (performance.now() - t0) / 1000;
    await solo.close();
    soloE.state.close();
    console.log(`  one node, PostgreSQL:         ${Math.round(N / soloS).toLocaleString('en')} failures/s (all of them written to PostgreSQL)   ratio to SQLite ${(sqliteS / soloS).toFixed(2)} (goal >= 0.5)`);
    await db.query('DELETE FROM failures; DELETE FROM nodes');
    await db.query(`UPDATE leader SET node = NULL, lease_until = '-infinity'`);

    // Two nodes: a leads, b follows; half the failures each.
    const aE = engine('a');
    const a = await node(db, 'a', aE);
    while (!a.isLeader) await sleep(20);
    const bE = engine('b');
    const b = await node(db, 'b', bE);
    t0 = performance.now();
    await Promise.all([
      feedSpread((m, ev) => a.onMatch('vpopmail', m, ev), 0, N / 2),
      feedSpread((m, ev) => b.onMatch('vpopmail', m, ev), N / 2, N),
    ]);
    while (aE.total() < N) await sleep(2);
    const twoS = (performance.now() - t0) / 1000;
    console.log(`  two nodes through PostgreSQL: ${Math.round(N / twoS).toLocaleString('en')} failures/s counted by the leader (goal >= 50,000)   ratio to SQLite ${(sqliteS / twoS).toFixed(2)}`);
    await b.close();
    await a.close();
    aE.state.close();
    bE.state.close();
  } finally {
    db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`  load after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

await main();
process.exit(0);
